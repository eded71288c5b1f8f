"""Where a tiny goal model's probe spends its time on a device, alone and as 12 one-thread processes at once.
    python .diag/causal_time.py one OUT.json [cuda|cpu]      # one probe, per-method and phase times, cProfile top
    python .diag/causal_time.py many OUT.json [cuda|cpu] 12  # 12 at once"""
import cProfile, io, json, os, pstats, subprocess, sys, tempfile, time
mode, out, device = sys.argv[1], sys.argv[2], sys.argv[3]
if device == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def one(out, profile):
    from mesaprobe.probes.causal import REGISTRY
    from mesaprobe.runtime import set_threads
    if mode == "many" or profile is False:
        set_threads(1)
    times = {}
    for name, cls in REGISTRY.items():
        def timed(self, ctx, _orig=cls.run, _name=name):
            t = time.perf_counter(); r = _orig(self, ctx); times[_name] = round(times.get(_name, 0) + time.perf_counter() - t, 2); return r
        cls.run = timed
    from mesaprobe.api import probe
    run = tempfile.mkdtemp()
    prof = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if prof: prof.enable()
    res = probe(".diag/model", "rock-field", run + "/r", n=int(os.environ.get("N", 1200)), seeds=1, device=device if device == "cpu" else "cuda",
                linear_backend="sklearn" if device == "cpu" else "batched", progress=False)
    if prof: prof.disable()
    row = {"wall_s": round(time.perf_counter() - start, 1), "methods": times, "phase_s": res["environment"].get("phase_s")}
    if prof:
        s = io.StringIO(); pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25); row["top_tottime"] = s.getvalue()[-6000:]
        s = io.StringIO(); pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(60); row["top_cum"] = s.getvalue()[-9000:]
    json.dump(row, open(out, "w"), indent=1)


if mode == "one":
    one(out, True)
elif mode == "child":
    one(out, False)
else:
    k = int(sys.argv[4]); start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "child", f"{out}.{i}", device]) for i in range(k)]
    [p.wait() for p in procs]
    rows = [json.load(open(f"{out}.{i}")) for i in range(k) if os.path.exists(f"{out}.{i}")]
    json.dump({"k": k, "device": device, "wall_s": round(time.perf_counter() - start, 1), "rows": rows}, open(out, "w"), indent=1)
    [os.remove(f"{out}.{i}") for i in range(k) if os.path.exists(f"{out}.{i}")]
