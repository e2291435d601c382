#!/bin/sh
# Every .dlir file in the repository round-trips through `dlc opt`: print -> parse -> print
# gives the same text. A file that does not parse must be a deliberate bad input: named
# bad_* (fuzz seeds), a kept fuzz finding (tests/fuzz/regressions/), or a test whose RUN
# line expects failure (%not).
# Usage: roundtrip_all.sh DLC SOURCE_DIR WORK_DIR
set -u
dlc=$1 root=$2 work=$3
mkdir -p "$work"
checked=0 failed=0
for f in $(cd "$root" && git ls-files '*.dlir' 2>/dev/null || find . -name '*.dlir'); do
  path="$root/$f"
  if "$dlc" opt "$path" > "$work/once.dlir" 2> "$work/err.txt"; then
    if ! "$dlc" opt "$work/once.dlir" > "$work/twice.dlir" || ! cmp -s "$work/once.dlir" "$work/twice.dlir"; then
      echo "FAIL: $f does not round-trip:"
      diff "$work/once.dlir" "$work/twice.dlir" | head -20
      failed=$((failed + 1))
    fi
  else
    case "$f" in
      */bad_*|*tests/fuzz/regressions/*) ;;
      *) if ! grep -q '%not' "$path"; then
           echo "FAIL: $f does not parse and is not marked as a bad input:"
           cat "$work/err.txt"
           failed=$((failed + 1))
         fi ;;
    esac
  fi
  checked=$((checked + 1))
done
echo "round trip: $checked files, $failed failures"
[ "$failed" -eq 0 ] && [ "$checked" -gt 0 ]
