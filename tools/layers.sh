#!/bin/sh
# layers.sh - fails on an include that crosses a layer the wrong way.
#
#   engine/base/  errors, allocation, paths, hashing: includes nothing of ours
#                 but itself
#   audio/        engine/base and audio only (never the store or the engine)
#   store/        engine/base and store only (SQL; never audio or the engine)
#   engine/       engine/ and audio/ (never store/ or tui/); engine/cpu and
#                 engine/cuda never include each other
#   tui/core/     the curses-free app core: no curses, no tui/app or tui/cli
#   tui/cli/      never tui/app;   tui/app/  never tui/cli
#
# Every include of a project header names its folder ("engine/base/util.h"),
# so the rule can be read off the line. Run by make test.
cd "$(dirname "$0")/.." || exit 2
bad=0
complain() { echo "layers: $1: includes \"$2\" ($3)"; bad=1; }
for f in $(git ls-files 'engine/*.[ch]' 'engine/*.cu' 'engine/*.cuh' 'audio/*.[ch]' \
           'store/*.[ch]' 'tui/*.[ch]' 'tests/*.[ch]'); do
    [ -f "$f" ] || continue
    incs=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    for i in $incs; do
        case "$i" in
        */*) ;;
        *) complain "$f" "$i" "name the header's folder"; continue ;;
        esac
        case "$f" in
        engine/base/*) case "$i" in engine/base/*) ;; *) complain "$f" "$i" "base includes only base" ;; esac ;;
        audio/*) case "$i" in engine/base/* | audio/*) ;; *) complain "$f" "$i" "audio uses base and audio only" ;; esac ;;
        store/*) case "$i" in engine/base/* | store/*) ;; *) complain "$f" "$i" "store uses base and store only" ;; esac ;;
        engine/cpu/*) case "$i" in engine/cuda/*) complain "$f" "$i" "cpu never includes cuda" ;; store/* | tui/*) complain "$f" "$i" "engine below store and tui" ;; esac ;;
        engine/cuda/*) case "$i" in engine/cpu/*) complain "$f" "$i" "cuda never includes cpu" ;; store/* | tui/*) complain "$f" "$i" "engine below store and tui" ;; esac ;;
        engine/*) case "$i" in store/* | tui/*) complain "$f" "$i" "engine below store and tui" ;; esac ;;
        tui/core/*) case "$i" in tui/app/* | tui/cli/*) complain "$f" "$i" "the core serves the app and the CLI" ;; esac ;;
        tui/cli/*) case "$i" in tui/app/*) complain "$f" "$i" "the CLI never uses the app" ;; esac ;;
        tui/app/*) case "$i" in tui/cli/*) complain "$f" "$i" "the app never uses the CLI" ;; esac ;;
        esac
    done
    case "$f" in
    tui/core/* | engine/* | audio/* | store/*)
        if grep -Eq '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(n?cursesw?|ncursesw/[a-z]*)\.h>' "$f"; then
            echo "layers: $f: includes curses (only tui/app draws)"; bad=1
        fi ;;
    esac
done
[ $bad -eq 0 ] && echo "layers: ok"
exit $bad
