# tests/lib/checks.sh — TAP-style checks for the integration scripts (sourced).
#
#   check DESCRIPTION ACTUAL EXPECTED        equal strings
#   check_match DESCRIPTION ACTUAL REGEX     bash extended regex
#   checks_done                              prints the plan and the totals; fails if any failed
#
# A failed check prints what it got and what it expected, and the script goes on, so one
# run shows every failure.

checks=0
failures=0

check() {
    checks=$((checks + 1))
    if [[ "$2" == "$3" ]]; then
        printf 'ok %d - %s\n' "$checks" "$1"
    else
        printf 'not ok %d - %s\n#   got:      %s\n#   expected: %s\n' "$checks" "$1" "$2" "$3"
        failures=$((failures + 1))
    fi
}

check_match() {
    checks=$((checks + 1))
    if [[ "$2" =~ $3 ]]; then
        printf 'ok %d - %s\n' "$checks" "$1"
    else
        printf 'not ok %d - %s\n#   got:      %s\n#   expected: /%s/\n' "$checks" "$1" "$2" "$3"
        failures=$((failures + 1))
    fi
}

checks_done() {
    echo "1..$checks"
    printf '%d passed, %d failed\n' $((checks - failures)) "$failures"
    ((failures == 0))
}
