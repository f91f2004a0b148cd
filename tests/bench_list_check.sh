#!/bin/sh
# bench_kernels --list, which needs no GPU (so it runs here, in CI): the rows a run would time.
#   tests/bench_list_check.sh path/to/bench_kernels
# Checks: every op's version 1 and the point-wise rows are listed; the chunk-plan rows only on the
# large shape, and neither without it (--no-large); --only keeps exactly the rows it matches; a
# filter that keeps nothing, or is no regular expression, exits 2 with one line on stderr; and
# --list writes no CSV.
set -u
B=${1:?usage: bench_list_check.sh path/to/bench_kernels}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
bad=0
no() { echo "FAILED: $*"; bad=1; }
# A listed row: "<op, padded to 24> <shape>", the shape "N<images> ..."; the op alone:
ops() { grep -E ' N[0-9]+ ' "$1" | sed -E 's/ +N[0-9]+ .*$//'; }

"$B" --list >all.txt 2>err.txt || no "--list exited $? ($(cat err.txt))"
n=$(sed -n 's/^\([0-9][0-9]*\) rows$/\1/p' all.txt)
[ "$(ops all.txt | wc -l)" -eq "${n:-0}" ] && [ "${n:-0}" -gt 0 ] || no "--list's count '$n' is not its row lines"
for op in 'conv fwd v1' 'conv bwd-data v1' 'conv bwd-weight v1' 'conv fwd (1x1 as GEMM) v1' 'BN fwd (train) v1' \
  'BN bwd v1' 'BN fwd+bwd v1' 'GN fwd+bwd v1' 'LN fwd+bwd v1' 'BN+act fwd+bwd v1' 'GN+act fwd+bwd v1' \
  'LN+act fwd+bwd v1' 'ReLU fwd' 'maxpool 2x2 fwd'; do
  ops all.txt | grep -qxF "$op" || no "--list lacks '$op'"
done
# The model's 8 convolutions and the large one: 9 shapes with a version 1 forward row each.
[ "$(ops all.txt | grep -cxF 'conv fwd v1')" -eq 9 ] || no "'conv fwd v1' is not listed for 9 shapes"
grep -E 'L2[/*]2' all.txt | grep -qv ' N256 C64 56x56' && no "a chunk-plan row on a shape other than the large one"
[ "$(grep -cE 'L2[/*]2' all.txt)" -eq 6 ] || no "not 6 chunk-plan rows (BN, GN, LN at L2/2 and L2*2)"

"$B" --list --no-large >small.txt 2>err.txt || no "--list --no-large exited $?"
grep -qE 'N256|L2[/*]2' small.txt && no "--no-large still lists the large shape"

re='fwd\+bwd v[5-9]|conv bwd-weight v[35]'
"$B" --list --only "$re" >only.txt 2>err.txt || no "--list --only exited $? ($(cat err.txt))"
ops all.txt | grep -E "$re" >want.txt
ops only.txt >got.txt
[ -s got.txt ] && cmp -s want.txt got.txt || no "--only '$re' did not keep exactly the rows it matches"
m=$(sed -n 's/^\([0-9][0-9]*\) rows of \([0-9][0-9]*\) .*/\1 \2/p' only.txt)
[ "$m" = "$(wc -l <got.txt | tr -d ' ') ${n:-}" ] || no "--only's count '$m' is not '$(wc -l <got.txt) of $n'"

"$B" --list --only 'no such row' >/dev/null 2>err.txt
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q 'matched no row' err.txt ||
  no "an --only that keeps nothing: exit $rc, stderr '$(cat err.txt)'"
"$B" --list --only 'conv (fwd' >/dev/null 2>err.txt
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q 'not a regular expression' err.txt ||
  no "an --only that is no regular expression: exit $rc, stderr '$(cat err.txt)'"

[ -e bench_kernels.csv ] && no "--list wrote bench_kernels.csv"
[ $bad -eq 0 ] && echo "bench_kernels --list: $n rows, every check passed"
exit $bad
