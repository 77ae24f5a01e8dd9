#!/usr/bin/env bash
# Run this machine's share of a grid of experiments and share the results.
#
#   scripts/sweep.sh [--part K/N] [--prefix NAME] [--git-remote NAME] \
#                    -S train.hidden_size=5,10,20 -S train.learning_rate=0.01,0.1
#
# The grid is every combination of the -S values, numbered from 1 in a fixed order, so every
# machine given the same -S options sees the same points; `--part K/N` runs points K, K+N,
# K+2N, ... Each point is one `dvc exp run --pull`: results another machine already stored
# (stage outputs and the record of which run made them) are fetched from the DVC remote
# instead of being recomputed, and what nobody stored yet is computed. (`--allow-missing` is
# left out: with it, a stage recorded in dvc.lock whose outputs never reached the remote is
# skipped, and the first stage that needs them fails.) At the end `dvc exp push` sends the experiments to
# the Git remote and their outputs and run records to the default DVC remote, where anyone
# collects them with `dvc exp pull <git remote> <names>` and compares them with `dvc exp show`.
# `--list` prints the points (number, tab, settings) and runs nothing. Needs `dvc` on PATH
# (`make sweep` or `source .venv/bin/activate`).
set -euo pipefail

usage() {
    echo "usage: scripts/sweep.sh [--part K/N] [--prefix NAME] [--git-remote NAME] [--list]" \
         "-S KEY=V1,V2,... [-S KEY=V1,V2,...]" >&2
    exit 2
}
fail() { echo "sweep: error: $*" >&2; exit 2; }

part=1/1 prefix="" git_remote=origin list=false specs=()
while (($#)); do
    case $1 in
        -S|--set-param) (($# >= 2)) || usage; specs+=("$2"); shift 2 ;;
        --part) (($# >= 2)) || usage; part=$2; shift 2 ;;
        --prefix) (($# >= 2)) || usage; prefix=$2; shift 2 ;;
        --git-remote) (($# >= 2)) || usage; git_remote=$2; shift 2 ;;
        --list) list=true; shift ;;
        *) usage ;;
    esac
done
((${#specs[@]})) || usage
[[ $part =~ ^([0-9]+)/([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= BASH_REMATCH[2])) \
    || fail "--part must be K/N with 1 <= K <= N, got '$part'"
k=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]}
# Experiment names become Git refs: keep them to safe characters.
[[ -z $prefix || $prefix =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] \
    || fail "--prefix may hold letters, digits, '-' and '_' only, got '$prefix'"

# The grid, one point per element: "key=value key=value ...".
points=("")
for spec in "${specs[@]}"; do
    [[ $spec =~ ^[A-Za-z0-9_.:/-]+=[^[:space:]]+$ && $spec != *,,* && $spec != *=,* && $spec != *, ]] \
        || fail "-S must be KEY=V1,V2,... without spaces or empty values, got '$spec'"
    key=${spec%%=*}
    IFS=, read -ra values <<<"${spec#*=}"
    next=()
    for point in "${points[@]}"; do
        for value in "${values[@]}"; do next+=("${point:+$point }$key=$value"); done
    done
    points=("${next[@]}")
done

if $list; then
    for i in "${!points[@]}"; do printf '%d\t%s\n' $((i + 1)) "${points[i]}"; done
    exit 0
fi

# `dvc exp run` leaves the workspace at the point it ran last: put back the params, run record,
# metrics, Git index and DVC outputs found here, when the sweep ends, whether it worked or not.
git rev-parse --git-dir >/dev/null 2>&1 || fail "run it in the project's Git repository"
index=$(git write-tree 2>/dev/null) || fail "the Git index has unresolved conflicts; resolve them first"
saved=$(mktemp -d)
tracked=(params.yaml)
had_lock=false
[[ -e dvc.lock ]] && had_lock=true && tracked+=(dvc.lock)
[[ -e metrics ]] && tracked+=(metrics)
tar -cf "$saved/workspace.tar" "${tracked[@]}"
restore() {
    rm -rf metrics
    tar -xf "$saved/workspace.tar"
    $had_lock || rm -f dvc.lock
    git read-tree "$index"
    rm -rf "$saved"
    dvc checkout --quiet >/dev/null 2>&1 \
        || echo "sweep: some outputs named in dvc.lock are not stored here; \`dvc pull\` or \`dvc repro\` brings them"
    echo "sweep: workspace put back as it was before the sweep"
}
trap restore EXIT

names=()
for i in "${!points[@]}"; do
    number=$((i + 1))
    (((number - k) % n == 0)) || continue
    set_args=()
    for setting in ${points[i]}; do set_args+=(-S "$setting"); done
    name_args=()
    [[ -n $prefix ]] && name_args=(-n "$prefix-$number")
    echo "sweep: point $number of ${#points[@]}: ${points[i]}"
    log=$(mktemp)
    dvc exp run --pull "${name_args[@]}" "${set_args[@]}" | tee "$log"
    name=$(sed -n 's/^Ran experiment(s): //p' "$log")
    rm -f "$log"
    [[ -n $name ]] || fail "dvc exp run did not name the experiment of point $number"
    names+=("$name")
done
((${#names[@]})) || { echo "sweep: part $part of a ${#points[@]}-point grid has no point"; exit 0; }

dvc exp push --run-cache "$git_remote" "${names[@]}"
echo "sweep: pushed ${names[*]}"
