#!/usr/bin/env bash
# Check that the pipeline gives the same bits on other kinds of machine, from this x86-64 Linux one.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/cross_check.sh [MACHINE] [--iterations N] [--stages "S1 S2 ..."] [--isolate]
                              [--probe] [--cache DIR] [--keep]

Runs the pipeline's stage scripts on another kind of machine and compares every stage output,
byte for byte, with this machine's own `dvc repro` of the same commit (and, for a full run,
with the committed dvc.lock). What is run is the committed HEAD (a temporary git clone):
commit your changes first.

MACHINE (one of):
  --aarch64 [--cpu NAME]  64-bit Arm Linux (default): Debian bookworm's arm64 python3.11 and
                          the aarch64 wheels of the pinned requirements, run by qemu-aarch64
                          (NAME: a qemu -cpu model, e.g. neoverse-n1, cortex-a72, a64fx;
                          default qemu's "max")
  --x86 CPU               an older x86-64 CPU, e.g. Nehalem (no AVX), Sandybridge (AVX, no
                          AVX2): this project's .venv run by `qemu-x86_64 -cpu CPU`
  --kernel CORETYPE       this CPU, natively, with OpenBLAS forced to another kernel
                          (OPENBLAS_CORETYPE=CORETYPE, e.g. Prescott, Nehalem, Sandybridge,
                          Haswell, Zen, SkylakeX, Cooperlake)

  --iterations N   a shortened run: train.iterations=N in both copies (the host reproduces
                   the same shortened params); compares against the host only. Without it,
                   the full demo (4000 iterations) runs and is also compared with dvc.lock.
                   Emulation is about 100 times slower than this machine: see
                   docs/cross-check.md for the time each stage takes.
  --stages LIST    the stages to run on MACHINE, in order (default: every stage of dvc.yaml,
                   in its order); the stages left out give it this machine's outputs, e.g.
                   --stages "train evaluate" (or train,evaluate, as make cross-check's ARGS
                   must write it) trains on this machine's features
  --isolate        each stage reads this machine's outputs of the stages before it, not the
                   ones MACHINE made: what differs is that stage's own doing (without it, a
                   difference carries on down the pipeline, as it would for a user)
  --probe          instead of the pipeline: whether NumPy operations (tanh, exp, log, log1p,
                   sqrt, rint, ldexp, frexp, add.reduce, matmul) give the same bits on MACHINE
                   as here
  --cache DIR      where the aarch64 root and wheels are kept
                   (default ${XDG_CACHE_HOME:-$HOME/.cache}/catdog-cross)
  --keep           keep the temporary copies (their paths are printed)

The stage scripts run as `python stages/<stage>.py` with nothing set in the environment,
whatever the stage commands in dvc.yaml set. Exit status: 0 when every output is the same,
1 when any differs, 2 on a usage or setup error. Needs the project's .venv (`make install`)
and, for the emulated machines, qemu-user (installed with apt-get when missing).
EOF
}

fail() { echo "cross-check: error: $*" >&2; exit 2; }
say() { echo "cross-check: $*" >&2; }

repo=$(git rev-parse --show-toplevel 2>/dev/null) || fail "run it inside the catdog repository"
venv_python=$repo/.venv/bin/python
machine=aarch64 cpu="" kernel="" iterations="" isolate=false probe=false keep=false
stages=""
cache=${XDG_CACHE_HOME:-$HOME/.cache}/catdog-cross
# pip's choice of wheels for the emulated aarch64 Python
aarch64_wheels=(--platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64
                --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all:)
while (($#)); do
    case $1 in
        --aarch64) machine=aarch64; shift ;;
        --cpu) (($# >= 2)) || fail "--cpu needs a qemu CPU model"; cpu=$2; shift 2 ;;
        --x86) (($# >= 2)) || fail "--x86 needs a CPU model, e.g. Nehalem"; machine=x86; cpu=$2; shift 2 ;;
        --kernel) (($# >= 2)) || fail "--kernel needs an OpenBLAS core type, e.g. Sandybridge"
                  machine=kernel; kernel=$2; shift 2 ;;
        --iterations) (($# >= 2)) || fail "--iterations needs a number"; iterations=$2; shift 2 ;;
        --stages) (($# >= 2)) || fail "--stages needs a list"; stages=${2//,/ }; shift 2 ;;
        --isolate) isolate=true; shift ;;
        --probe) probe=true; shift ;;
        --cache) (($# >= 2)) || fail "--cache needs a folder"; cache=$2; shift 2 ;;
        --keep) keep=true; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ -x $venv_python ]] || fail "$venv_python is missing: run 'make install' first"
# The committed dvc.yaml's stages, in its order (the order they depend on one another).
all_stages=$(git -C "$repo" show HEAD:dvc.yaml | "$venv_python" -c '
import sys
from ruamel.yaml import YAML
print(" ".join(YAML(typ="safe").load(sys.stdin)["stages"]))') || fail "cannot read the stages of HEAD's dvc.yaml"
stages=${stages:-$all_stages}
for stage in $stages; do
    [[ " $all_stages " == *" $stage "* ]] || fail "no stage '$stage' in dvc.yaml (stages: $all_stages)"
done
[[ -z $iterations || $iterations =~ ^[1-9][0-9]*$ ]] || fail "--iterations must be a positive whole number, got '$iterations'"
[[ $machine != kernel || $kernel =~ ^[A-Za-z0-9]+$ ]] || fail "--kernel must be an OpenBLAS core type name, got '$kernel'"
[[ $machine == aarch64 || -z $cpu || $cpu =~ ^[A-Za-z0-9_.-]+$ ]] || fail "bad CPU model '$cpu'"

need_qemu() {
    command -v "qemu-$1" >/dev/null && return
    say "qemu-$1 is missing: installing qemu-user with apt-get"
    apt-get install -y qemu-user >&2 || fail "could not install qemu-user (as root: apt-get install qemu-user)"
}

# Debian's own apt, told to keep its package lists for arm64 under the cache folder: nothing of
# this machine's apt configuration changes, and no root is needed to download.
apt_arm64() {
    local tool=$1 sandbox=(); shift
    # As root, apt downloads as the _apt user, who cannot write to root's cache folder.
    ((EUID)) || sandbox=(-o APT::Sandbox::User=root)
    "$tool" -o Dir::Etc::SourceList="$cache/apt/sources.list" -o Dir::Etc::SourceParts="$cache/apt/none" \
        -o Dir::Etc::Preferences="$cache/apt/none" -o Dir::Etc::PreferencesParts="$cache/apt/none" \
        -o Dir::State::Lists="$cache/apt/lists" -o Dir::State::status="$cache/apt/status" \
        -o Dir::Cache="$cache/apt" -o Dir::Cache::archives="$cache/debs" \
        -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1 "${sandbox[@]}" "$@"
}

# <cache>/root: python3.11, the C++ runtime the manylinux wheels expect (NumPy, OpenCV), and
# everything they need, unpacked from Debian bookworm's arm64 packages with `dpkg -x` (nothing is
# installed on this machine).
root_packages="python3.11 libstdc++6"
setup_root() {
    [[ $(cat "$cache/root/.complete" 2>/dev/null) == "$root_packages" ]] && return
    say "fetching Debian bookworm's arm64 python3.11 into $cache/root"
    mkdir -p "$cache/apt/lists/partial" "$cache/apt/none" "$cache/debs/partial"
    : >"$cache/apt/status"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -r $keyring ]] || fail "$keyring is missing (apt-get install debian-archive-keyring)"
    cat >"$cache/apt/sources.list" <<EOF
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian bookworm-updates main
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
EOF
    apt_arm64 apt-get -qq update >&2 || fail "apt-get update for arm64 failed"
    local packages
    # shellcheck disable=SC2086  # one word per package
    packages=$(apt_arm64 apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $root_packages | grep -E '^[a-z0-9]' | sort -u)
    # shellcheck disable=SC2086  # one word per package
    (cd "$cache/debs" && apt_arm64 apt-get -qq download $packages >&2) || fail "apt-get download failed"
    rm -rf "$cache/root"
    mkdir -p "$cache/root"
    local deb
    for deb in "$cache"/debs/*_arm64.deb "$cache"/debs/*_all.deb; do dpkg -x "$deb" "$cache/root"; done
    echo "$root_packages" >"$cache/root/.complete"
}

# <cache>/site-<hash>: the aarch64 wheels of the exact versions the stages import here.
setup_site() {
    local wanted hash
    mkdir "$work/scratch"
    wanted=$(cd "$work/scratch" && git init -q . \
        && git -c user.name=cross-check -c user.email=cross-check@invalid commit -q --allow-empty -m scratch \
        && PYTHONPATH=$copy/src "$venv_python" \
        "$repo/scripts/cross_check_deps.py" "$copy" 2>/dev/null) \
        || fail "could not list the packages the stages import (is .venv up to date?)"
    hash=$(md5sum <<<"$wanted" | cut -c1-12)
    site=$cache/site-$hash
    [[ -e $site/.complete ]] && return
    say "fetching the aarch64 wheels of $(wc -l <<<"$wanted") packages into $site"
    printf '%s\n' "$wanted" >"$cache/requirements-$hash.txt"
    "$venv_python" -m pip download --quiet --no-deps "${aarch64_wheels[@]}" -d "$cache/wheels" \
        -r "$cache/requirements-$hash.txt" >&2 || fail "pip download of the aarch64 wheels failed"
    rm -rf "$site"
    "$venv_python" -m pip install --quiet --no-deps --no-index --find-links "$cache/wheels" \
        "${aarch64_wheels[@]}" --target "$site" -r "$cache/requirements-$hash.txt" >&2 \
        || fail "pip install --target $site failed"
    touch "$site/.complete"
}

# The command that runs a Python script on the chosen machine, as an array: runner. Python finds
# the copy's source first, then (aarch64) the wheels in site.
choose_runner() {
    local path=$copy/src${site:+:$site}
    case $machine in
        aarch64)
            need_qemu aarch64
            setup_root
            # -S: none of this machine's site folders, only PYTHONPATH.
            runner=(env "PYTHONPATH=$path" qemu-aarch64 ${cpu:+-cpu "$cpu"}
                    -L "$cache/root" "$cache/root/usr/bin/python3.11" -S) ;;
        x86) need_qemu x86_64
             runner=(env "PYTHONPATH=$path" qemu-x86_64 -cpu "$cpu" "$venv_python") ;;
        kernel) runner=(env "PYTHONPATH=$path" "OPENBLAS_CORETYPE=$kernel" "$venv_python") ;;
    esac
}

describe() {
    case $machine in
        aarch64) echo "aarch64 (qemu-aarch64${cpu:+ -cpu $cpu}, Debian bookworm python3.11)" ;;
        x86) echo "x86-64 $cpu (qemu-x86_64 -cpu $cpu)" ;;
        kernel) echo "this CPU with OPENBLAS_CORETYPE=$kernel" ;;
    esac
}

clone() {  # clone DIR: the committed HEAD, with the shortened params if asked
    git clone --quiet --no-checkout "$repo" "$1"
    git -C "$1" checkout --quiet --detach "$(git -C "$repo" rev-parse HEAD)"
    [[ -z $iterations ]] || (cd "$1" && "$venv_python" -c '
import sys
from ruamel.yaml import YAML
yaml = YAML()
params = yaml.load(open("params.yaml"))
params["train"]["iterations"] = int(sys.argv[1])
yaml.dump(params, open("params.yaml", "w"))' "$iterations")
}

work=$(mktemp -d "${TMPDIR:-/tmp}/catdog-cross.XXXXXX")
if $keep; then say "temporary copies kept in $work"; else trap 'rm -rf "$work"' EXIT; fi
copy=$work/target site=""
mkdir -p "$cache"

if $probe; then
    copy=$work/probe
    mkdir -p "$copy/src"
    if [[ $machine == aarch64 ]]; then
        # The probe needs NumPy alone: its pinned aarch64 wheel.
        numpy_pin=$(grep -E '^numpy==' "$repo/requirements.txt") || fail "no numpy pin in requirements.txt"
        site=$cache/site-probe-${numpy_pin#numpy==}
        if [[ ! -e $site/.complete ]]; then
            "$venv_python" -m pip install --quiet --no-deps "${aarch64_wheels[@]}" --target "$site" \
                "$numpy_pin" >&2 \
                || fail "pip install of the aarch64 $numpy_pin wheel failed"
            touch "$site/.complete"
        fi
    fi
    choose_runner
    "$venv_python" "$repo/scripts/cross_check_probe.py" >"$work/host.txt"
    start=$SECONDS
    "${runner[@]}" "$repo/scripts/cross_check_probe.py" >"$work/target.txt" \
        || fail "the probe failed on $(describe)"
    echo "NumPy $("$venv_python" -c 'import numpy; print(numpy.__version__)'), $(describe) against this machine ($((SECONDS - start)) s):"
    status=0
    while IFS=$'\t' read -r name host_md5 <&3 && IFS=$'\t' read -r _ target_md5 <&4; do
        if [[ $host_md5 == "$target_md5" ]]; then verdict=same; else verdict=DIFFERENT status=1; fi
        printf '  %-48s %s\n' "$name" "$verdict"
    done 3<"$work/host.txt" 4<"$work/target.txt"
    exit "$status"
fi

say "copies of HEAD $(git -C "$repo" rev-parse --short HEAD) in $work${iterations:+, train.iterations=$iterations}"
clone "$work/host"
clone "$copy"
[[ $machine != aarch64 ]] || setup_site
choose_runner

say "host: dvc repro"
start=$SECONDS
(cd "$work/host" && PATH="$repo/.venv/bin:$PATH" dvc repro --quiet >&2) \
    || fail "dvc repro failed on this machine"
say "host: $((SECONDS - start)) s"

# The outputs the host's dvc.lock records for the given stages, one path a line.
outs_of() {
    "$venv_python" -c '
import sys
from ruamel.yaml import YAML
stages = YAML(typ="safe").load(open(sys.argv[1]))["stages"]
for name in sys.argv[2:]:
    for out in stages.get(name, {}).get("outs", []):
        print(out["path"])' "$work/host/dvc.lock" "$@"
}

# copy_outs FROM TO STAGE...: replace TO's outputs of the stages with those FROM has.
copy_outs() {
    local from=$1 to=$2 out; shift 2
    while IFS= read -r out; do
        [[ -e $from/$out ]] || continue
        rm -rf "${to:?}/$out"
        mkdir -p "$(dirname "$to/$out")"
        cp -a "$from/$out" "$to/$out"
    done < <(outs_of "$@")
}

# The stages left out: their outputs are this machine's.
# shellcheck disable=SC2086  # one word per stage
left_out=$(printf '%s\n' $all_stages | grep -vxF -f <(printf '%s\n' $stages) || true)
# shellcheck disable=SC2086  # one word per stage
[[ -z $left_out ]] || copy_outs "$work/host" "$copy" $left_out

status=0 previous=""
for stage in $stages; do
    if $isolate && [[ -n $previous ]]; then
        # The stage before keeps what it made aside and hands on the host's outputs.
        copy_outs "$copy" "$work/made" "$previous"
        copy_outs "$work/host" "$copy" "$previous"
    fi
    previous=$stage
    say "$(describe): $stage"
    start=$SECONDS
    if ! (cd "$copy" && "${runner[@]}" "stages/$stage.py" >"$work/$stage.log" 2>&1); then
        tail -n 5 "$work/$stage.log" >&2
        say "$stage failed on $(describe)"
        status=1
        break
    fi
    echo "$stage: $((SECONDS - start)) s on $(describe)" | tee -a "$work/timings.txt" >&2
done
# The outputs each stage made on MACHINE, back in place (the last stage's never left).
# shellcheck disable=SC2086  # one word per stage
! $isolate || [[ ! -d $work/made ]] || copy_outs "$work/made" "$copy" $stages
# dvc commit writes the copy's dvc.lock for the outputs that are there (what DVC would record).
# shellcheck disable=SC2086  # one word per stage
(cd "$copy" && PATH="$repo/.venv/bin:$PATH" dvc commit --force --quiet $stages >&2) || status=1

echo "Stage outputs on $(describe) against this machine${iterations:+ (train.iterations=$iterations)}$($isolate && echo ", each stage from this machine's inputs"):"
committed=()
if [[ -z $iterations ]]; then
    git -C "$repo" show HEAD:dvc.lock >"$work/committed.lock"
    committed=(--committed "$work/committed.lock")
fi
# shellcheck disable=SC2086  # one word per stage
"$venv_python" "$repo/scripts/cross_check_compare.py" "$work/host" "$copy" $stages "${committed[@]}" || status=1
cat "$work/timings.txt"
exit "$status"
