"""The cost model of data-parallel training over several machines (docs/scaling.md):
prints the tables of that page, which a test checks are the ones there.

    python benchmarks/scaling_model.py                  # the page's tables (Markdown)
    python benchmarks/scaling_model.py --gflops 13      # another machine's GEMM speed

One step of ``tg.fit(..., comm=...)`` on ``p`` machines is the forward and backward pass
on ``B/p`` samples, then one allreduce of the gradient (tracegrad does not overlap the
two), then the update:

    compute   T_c = 6 · P · (B/p) / F          (2 flops per weight and sample forward,
                                                 4 backward; F flop/s per machine)
    network   T_n = 2 (p − 1) · (α + S / (p · W))   (ring allreduce: 2(p−1) messages of
                                                 S/p bytes each; S = 8 P bytes in float64,
                                                 W the link's bytes/s, α its latency)
    step      T = T_c + T_n,   throughput B / T samples/s

Both terms grow with the number of weights ``P``, so for bandwidth alone the crossover
does not depend on the model: the network is the limit when the batch per machine is
below ``b* = T_n · F / (6 P) ≈ (8/3) · (p−1)/p · F / W`` (float64); the latency term
``2 (p−1) α`` raises ``b*`` for small models, where it is not negligible.
"""

from __future__ import annotations

import argparse

#: flop/s of one machine training the W2 MLP in float64: 16 cores at the 31 GFLOP/s one
#: core reached here (benchmarks/bench_mpi.py: 6 · 85,002 · 4096 flops in 67 ms a step)
MACHINE_GFLOPS = 500.0
#: latency of one message on an Ethernet link with TCP (s)
LATENCY = 20e-6
LINKS = {"10 Gbit/s": 10e9 / 8, "100 Gbit/s": 100e9 / 8}
BYTES = 8  # float64
#: the W2 MLP 64-256-256-10 and three larger MLPs
MODELS = {"W2 (85 k)": 85_002, "1 M": 1_000_000, "10 M": 10_000_000, "100 M": 100_000_000}


def compute_time(params: int, batch_per_machine: float, gflops: float) -> float:
    return 6.0 * params * batch_per_machine / (gflops * 1e9)


def allreduce_time(params: int, machines: int, bandwidth: float, latency: float = LATENCY) -> float:
    """Ring allreduce of ``params`` numbers: each machine sends (and receives)
    ``2 (p−1)/p`` of the gradient's bytes, in ``2 (p−1)`` messages."""
    if machines == 1:
        return 0.0
    size = BYTES * params
    return 2 * (machines - 1) * (latency + size / (machines * bandwidth))


def crossover_batch(params: int, machines: int, bandwidth: float, gflops: float) -> float:
    """The batch per machine below which the allreduce takes longer than the GEMMs."""
    return allreduce_time(params, machines, bandwidth) * gflops * 1e9 / (6.0 * params)


def throughput(params: int, batch: int, machines: int, bandwidth: float, gflops: float) -> float:
    t = compute_time(params, batch / machines, gflops) + allreduce_time(params, machines, bandwidth)
    return batch / t


def tables(gflops: float) -> str:
    out = [
        f"F = {gflops:g} GFLOP/s per machine, latency {LATENCY * 1e6:g} µs, float64 gradients",
        "",
        "Batch per machine below which the network is the limit (T_n > T_c), 8 machines:",
        "",
        "| model (weights) | gradient | allreduce 10 Gbit/s | b* 10 Gbit/s "
        "| allreduce 100 Gbit/s | b* 100 Gbit/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, p in MODELS.items():
        row = [name, f"{BYTES * p / 1e6:,.2f} MB"]
        for bw in LINKS.values():
            row += [
                f"{allreduce_time(p, 8, bw) * 1e3:,.2f} ms",
                f"{crossover_batch(p, 8, bw, gflops):,.0f}",
            ]
        out.append("| " + " | ".join(row) + " |")
    out += [
        "",
        "The W2 MLP at global batch 4096: samples/s (speed-up over one machine):",
        "",
        "| machines | " + " | ".join(LINKS) + " |",
        "|---:|" + "---:|" * len(LINKS),
    ]
    w2 = MODELS["W2 (85 k)"]
    for m in (1, 2, 4, 8, 16, 32):
        cells = []
        for bw in LINKS.values():
            s = throughput(w2, 4096, m, bw, gflops)
            cells.append(f"{s:,.0f} ({s / throughput(w2, 4096, 1, bw, gflops):.1f}×)")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gflops", type=float, default=MACHINE_GFLOPS, help="per machine")
    print(tables(parser.parse_args().gflops))


if __name__ == "__main__":
    main()
