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
# Measured (seeds 1 2 3, THREADS=1, three runs at once on the 2-core
# machine: `for s in 1 2 3; do SEEDS=$s THREADS=1 OUT=/tmp/bd
# bench/bench_demo.sh & done; wait; SEEDS="1 2 3" OUT=/tmp/bd
# bench/bench_demo.sh` (the last call resumes the finished runs and sums
# up); 19-20 min each that way, peak RSS 171-180 MB), held-out pass at
# the default pmi threshold 0.3:
#   M0 0.000, M1 0.583 +- 0.212, M2 0.703 +- 0.321,
#   uncurated control 0.323 +- 0.192, Dromedary 0.000
# (per seed M2 / control: 0.95 / 0.29, 0.82 / 0.15, 0.34 / 0.53; seed 1's
# Dromedary stage failed: no principle answer passed the filters (its base
# writes the thoughts but never "### Answer:"); the 0.3
# runs reran Humpback and the evaluation on the bases of the 0.2 runs,
# whose M2 was 0.96, 0.95, 0.34 and control the same).
# M2 - M0 = 0.703 > two sd 0.643; M2 beats the control in 2 of 3 seeds
# and on the mean. In seeds 1 and 2 the control answers most held-out
# requests with the decoys' slogan ("The best ledger prices of the
# season, ..."), which curation kept out of M2. In seed 3 the backward
# model wrote the right genre word for none of the held-out pages, so
# every model there learned the held-out layouts only from mislabeled
# pairs; M1 and M2 write seen layouts under held-out headers.
# What changed to get here (the earlier world tied: M2 0.727, control
# 0.733): the decoys now copy the closing line too and stuff the genre
# word, so the backward model gives them the instruction a clean page of
# the genre gets (before, it called them posters and letters, and a
# request for a held-out genre never met them); decoys went from 64 to 96
# per held-out genre; the ledger got cue words ("sold: {a} | one coin"),
# whose bare slots no model copied; and M1, M2 and the control all train
# 700 steps (--model-steps), where by epochs the control trained 2-5x
# more steps than M2 (the comparison was of compute as much as of data);
# the pmi threshold went from 0.2 to 0.3 (at 0.2 round 2 kept up to 43%
# of the decoys in some runs; 0.3 keeps at most 7%, and 94-100% of the
# correctly labelled clean pages).
# Dromedary's prompt carries one worked exemplar (--exemplars 1) since
# 35bec07: with both, the query sat past the 128 tokens the base was
# pretrained on. Rerunning Dromedary and the evaluation on the same three
# runs (Humpback unchanged, its figures identical): principle answers kept
# 0 / 70 / 101 -> 0 / 236 / 94, seen-genre form - / 0 / 0 -> - / 0.60 / 0;
# the default command (seed 1, 2 threads): 54 -> 274 kept, seen form
# 0.17 -> 0.60. Its held-out pass stays 0: Dromedary never sees the pages.
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
done
# (from the logs, so that runs of single seeds started side by side into one
# OUT can be summed up afterwards by one more call with all their SEEDS)
: > "$OUT/results.txt"
for s in $SEEDS; do grep '^RESULT' "$OUT/seed$s.log" >> "$OUT/results.txt" || true; done
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
