#!/bin/sh
# bench_demo.sh — the full `selfalign demo` over several seeds (default 1 2 3):
# held-out accuracy (mean ± sd over seeds) of M0, M1, M2, the uncurated
# control and the Dromedary model, and the goal of issue 7: M2 beats M0 by
# more than two standard deviations, and curated (M2) beats uncurated
# (control). Also each seed's wall time and peak RSS (/usr/bin/time -v when
# present) and the evaluation throughput per mode (prompts/s: greedy
# answers, reference NLL scoring, pairwise answers + judging).
#
#   bench/bench_demo.sh                      # build/selfalign, seeds 1 2 3
#   SA_BIN=build-x/selfalign SEEDS="1 2 3 4" OUT=/tmp/bd THREADS=2 bench/bench_demo.sh
#   EXTRA="--min-score 0.6" bench/bench_demo.sh   # any other demo option
#
# Each seed's run directory is $OUT/seed<S> (rerunning resumes it), its log
# $OUT/seed<S>.log. "pass" is the checker's exact-form score (chance ~0),
# "form" the form-only score (chance ~0.19): world.json states both.
#
# Measured (seeds 1 2 3, THREADS=1, three runs at once on the 2-core machine
# with other work, load average 5-6; 28-29 min each that way, peak RSS
# 170-180 MB): held-out pass M0 0.000, M1 0.627 +- 0.095, M2 0.727 +- 0.104,
# control 0.733 +- 0.083, Dromedary 0.000 (seen pass 0: its 25-81 principle
# answers did not teach the forms; seed 2's base wrote none, so its Dromedary
# stage failed). M2 - M0 is far beyond two sd; curated does NOT beat
# uncurated. Why, from the answers: every model fails one held-out genre,
# the ledger ("{a} | one coin"), whose slots start a line with no cue word
# before them: M2 writes the same remembered words there ("coal | one coin"),
# the control writes the decoys' slogan. On the other four genres both
# follow the clean layout (the clean pages are the plurality of what follows
# each opening line, and greedy decoding takes the plurality), so the junk
# the control learned shows only where M2 fails too. Next change to try:
# cue every slot ("Item: {a} | one coin"), so the ledger is copyable and
# the slogan is the control's only answer there.
# OpenMP threads wait passively unless OMP_WAIT_POLICY says otherwise:
# spinning waiters halve throughput on a shared 2-core machine.
set -eu
BIN=${SA_BIN:-build/selfalign}
OUT=${OUT:-/tmp/bench_demo}
SEEDS=${SEEDS:-"1 2 3"}
THREADS=${THREADS:-2}
EXTRA=${EXTRA:-}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT"
: > "$OUT/results.txt"
for s in $SEEDS; do
    cmd="$BIN demo --out $OUT/seed$s --seed $s --threads $THREADS --quiet $EXTRA"
    echo "+ $cmd"
    t0=$(date +%s)
    timer=""
    [ -x /usr/bin/time ] && timer="/usr/bin/time -v"
    if ! $timer $cmd > "$OUT/seed$s.log" 2>&1; then
        echo "seed $s failed; last lines of $OUT/seed$s.log:"
        tail -n 20 "$OUT/seed$s.log"
        exit 1
    fi
    t1=$(date +%s)
    rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$OUT/seed$s.log")
    echo "seed $s: $((t1 - t0)) s this call (a rerun resumes), peak RSS ${rss:-?} KB; stage seconds: $(grep -o '"seconds":{[^}]*}' "$OUT/seed$s/demo_results.json" 2>/dev/null)"
    grep '^demo: curate-\|^demo: .*candidates' "$OUT/seed$s.log" | sed "s/^/  seed $s /"
    grep '^RESULT' "$OUT/seed$s.log" >> "$OUT/results.txt"
done
echo
echo "held-out accuracy over seeds: $SEEDS ($OUT/results.txt)"
awk '
function val(k,   i, a) { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }
/pairwise=/ { npw++; pw += val("win_rate"); pb += val("order_bias"); ppw += val("pairwise_pps"); next }
{
    ans += val("answer_pps"); nll += val("nll_pps"); nm++
    m = val("model"); p = val("heldout_pass"); f = val("heldout_form"); s = val("seed")
    n[m]++; sp[m] += p; sp2[m] += p * p; sf[m] += f; sf2[m] += f * f
    P[m, s] = p; seeds[s] = 1
}
function sd(s1, s2, k) { return k > 1 ? sqrt((s2 - s1 * s1 / k) / (k - 1) > 0 ? (s2 - s1 * s1 / k) / (k - 1) : 0) : 0 }
END {
    printf "  %-8s %4s  %-17s  %-17s\n", "model", "n", "pass mean +- sd", "form mean +- sd"
    split("m0 m1 m2 control dromedary", order, " ")
    for (i = 1; i <= 5; i++) {
        m = order[i]; if (!n[m]) continue
        printf "  %-8s %4d  %.3f +- %.3f    %.3f +- %.3f\n", m, n[m], sp[m] / n[m], sd(sp[m], sp2[m], n[m]),
               sf[m] / n[m], sd(sf[m], sf2[m], n[m])
        mean[m] = sp[m] / n[m]; dev[m] = sd(sp[m], sp2[m], n[m])
        fmean[m] = sf[m] / n[m]; fdev[m] = sd(sf[m], sf2[m], n[m])
    }
    wins = 0; k = 0
    for (s in seeds) { k++; if ((P["m2", s] + 0) > (P["control", s] + 0)) wins++ }
    gap = mean["m2"] - mean["m0"]; two = 2 * (dev["m2"] > dev["m0"] ? dev["m2"] : dev["m0"])
    printf "  M2 - M0 = %.3f; two sd (the larger of the two) = %.3f: %s\n", gap, two, (gap > two) ? "goal met" : "goal NOT met"
    fgap = fmean["m2"] - fmean["m0"]; ftwo = 2 * (fdev["m2"] > fdev["m0"] ? fdev["m2"] : fdev["m0"])
    printf "  form: M2 - M0 = %.3f; two sd = %.3f: %s; M2 %.3f vs control %.3f\n", fgap, ftwo,
           (fgap > ftwo) ? "met" : "NOT met", fmean["m2"], fmean["control"]
    printf "  M2 > control in %d of %d seeds (mean %.3f vs %.3f): %s\n", wins, k, mean["m2"], mean["control"],
           (mean["m2"] > mean["control"]) ? "curated beats uncurated" : "curated does NOT beat uncurated"
    if (npw) printf "  M2 vs M0 pairwise (M2 judging by logits, both orders): win rate %.3f, order bias %.3f (mean of %d)\n",
                    pw / npw, pb / npw, npw
    if (nm) printf "  evaluation throughput (mean over models and seeds): answers %.1f prompts/s, reference NLL %.1f prompts/s%s\n",
                   ans / nm, nll / nm, npw ? sprintf(", pairwise %.1f prompts/s", ppw / npw) : ""
}' "$OUT/results.txt"
