#!/usr/bin/env bash
# Prints the figures of the memory-checking C tests of the last ctest run in
# BUILD_DIR (default build/test): for each test run under valgrind
# (memcheck, helgrind) or built with ASan+UBSan, its result, valgrind's error
# and leak summaries, and the test program's own closing line. ctest shows a
# passing test's output nowhere else; the full output is in
# BUILD_DIR/Testing/Temporary/LastTest.log.
set -euo pipefail
log="${1:-build/test}/Testing/Temporary/LastTest.log"
[ -f "$log" ] || { echo "ctest-figures: no $log (run ctest first)" >&2; exit 1; }

awk '
  function flush_test() {
    if (name == "") return
    line = name ": " (result == "" ? "not finished" : result)
    if (errors != "") line = line "; " errors
    if (lost != "") line = line "; " lost
    if (name ~ /asan/ && result == "Passed") line = line "; ASan+UBSan+LeakSanitizer reported nothing"
    if (closing != "") line = line "; " closing
    print "  " line
  }
  /^[0-9]+\/[0-9]+ Testing: / {
    flush_test()
    name = $3; result = ""; errors = ""; lost = ""; closing = ""
    keep = (name ~ /valgrind|helgrind|asan/)
    if (!keep) name = ""
    next
  }
  !keep { next }
  /ERROR SUMMARY:/ { sub(/^==[0-9]+== /, ""); sub(/ \(suppressed:.*/, ""); errors = $0; next }
  /All heap blocks were freed/ { lost = "all heap blocks freed, no leaks possible"; next }
  /definitely lost:/ { sub(/^==[0-9]+== +/, ""); lost = $0; next }
  /indirectly lost:/ { sub(/^==[0-9]+== +/, ""); lost = lost ", " $0; next }
  /checks passed|each received once|events from/ { closing = $0; next }
  /^Test Passed\./ { result = "Passed"; next }
  /^Test Failed\.|^Test time/ { if ($0 ~ /Failed/) result = "FAILED"; next }
  END { flush_test() }
' "$log"
