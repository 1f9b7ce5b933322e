"""Graphs written as PyTorch model code writes them, run by `tilefuse run` and checked
against PyTorch (eager, f32 math on the CPU) on a GPU machine.

usage: check_torch_graphs.py TILEFUSE_BINARY WORKDIR
Each case is a graph (the JSON format), its inputs and the PyTorch function it spells.
bf16 travels as f32 .npy files rounded to bf16, as the CLI documents.
"""
import json
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F


def node(name, op, inputs, **attrs):
    n = {"name": name, "op": op, "inputs": inputs}
    if attrs:
        n["attrs"] = attrs
    return n


def graph(name, inputs, nodes, outputs):
    return {"name": name, "inputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in inputs],
            "nodes": nodes, "outputs": outputs}


def bf16(t):
    return t.to(torch.bfloat16).float()


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


@case
def layer_norm_decomposed():
    g = graph("ln", [("x", ["B", "S", 768], "bf16"), ("w", [768], "bf16"), ("b", [768], "bf16")], [
        node("xf", "to", ["x"], dtype="f32"),
        node("mu", "mean", ["xf"], dim=-1, keepdim=True),
        node("d", "sub", ["xf", "mu"]),
        node("d2", "pow", ["d", 2]),
        node("var", "mean", ["d2"], dim=-1, keepdim=True),
        node("ve", "add", ["var", 1e-5]),
        node("r", "rsqrt", ["ve"]),
        node("n", "mul", ["d", "r"]),
        node("nw", "mul", ["n", "w"]),
        node("nb", "add", ["nw", "b"]),
        node("o", "to", ["nb"], dtype="bf16")], ["o"])
    x, w, b = bf16(torch.randn(3, 5, 768)), bf16(torch.randn(768)), bf16(torch.randn(768))
    return g, {"x": x, "w": w, "b": b}, {"o": bf16(F.layer_norm(x, (768,), w, b, 1e-5))}


@case
def llama_rms_norm():
    g = graph("rms", [("x", ["T", 4096], "bf16"), ("w", [4096], "bf16")], [
        node("xf", "to", ["x"], dtype="f32"),
        node("p", "pow", ["xf", 2]),
        node("v", "mean", ["p"], dim=-1, keepdim=True),
        node("ve", "add", ["v", 1e-6]),
        node("r", "rsqrt", ["ve"]),
        node("n", "mul", ["xf", "r"]),
        node("nh", "to", ["n"], dtype="bf16"),
        node("o", "mul", ["w", "nh"])], ["o"])
    x, w = bf16(torch.randn(7, 4096)), bf16(torch.randn(4096))
    n = bf16(x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))
    return g, {"x": x, "w": w}, {"o": bf16(w * n)}


@case
def cross_entropy_rows():
    g = graph("ce", [("logits", ["N", 32000], "bf16"), ("t", ["N", 1], "i32")], [
        node("lf", "to", ["logits"], dtype="f32"),
        node("lse", "logsumexp", ["lf"], dim=-1, keepdim=True),
        node("g", "gather", ["lf", "t"], dim=-1),
        node("loss", "sub", ["lse", "g"])], ["loss"])
    logits = bf16(torch.randn(6, 32000) * 3)
    t = torch.randint(0, 32000, (6, 1), dtype=torch.int32)
    ref = torch.logsumexp(logits, -1, keepdim=True) - logits.gather(-1, t.long())
    return g, {"logits": logits, "t": t}, {"loss": ref}


@case
def attention_4d():
    g = graph("attn", [("q", [2, 4, 96, 64], "f16"), ("k", [2, 4, 96, 64], "f16"), ("v", [2, 4, 96, 64], "f16")], [
        node("kt", "transpose", ["k"], dim0=-2, dim1=-1),
        node("s", "matmul", ["q", "kt"]),
        node("ss", "mul", ["s", 0.125]),
        node("p", "softmax", ["ss"], dim=-1),
        node("ph", "to", ["p"], dtype="f16"),
        node("o", "matmul", ["ph", "v"])], ["o"])
    q, k, v = (torch.randn(2, 4, 96, 64).half().float() for _ in range(3))
    p = torch.softmax((q @ k.transpose(-2, -1)).half().float() * 0.125, -1).half().float()
    return g, {"q": q, "k": k, "v": v}, {"o": (p @ v).half().float()}


@case
def column_reductions():
    g = graph("cols", [("x", ["M", 512], "f32")], [
        node("s", "sum", ["x"], dim=0),
        node("m", "amax", ["x"], dim=0, keepdim=True),
        node("y", "sub", ["x", "m"])], ["s", "y"])
    x = torch.randn(37, 512)
    return g, {"x": x}, {"s": x.sum(0), "y": x - x.amax(0, keepdim=True)}


@case
def middle_axis_mean_and_full_sum():
    g = graph("mid", [("x", [4, 100, 33], "f32")], [
        node("s", "mean", ["x"], dim=1),
        node("e", "exp", ["s"]),
        node("t", "sum", ["x"])], ["e", "t"])
    x = torch.randn(4, 100, 33)
    return g, {"x": x}, {"e": torch.exp(x.mean(1)), "t": x.sum()}


@case
def swiglu_chunk_of_one_linear():
    g = graph("chunk", [("x", ["M", 1024], "bf16"), ("w", [2048, 1024], "bf16")], [
        node("h", "linear", ["x", "w"]),
        node("a", "slice", ["h"], dim=-1, start=0, end=1024),
        node("b", "slice", ["h"], dim=-1, start=1024, end=2048),
        node("sa", "silu", ["a"]),
        node("o", "mul", ["sa", "b"])], ["o"])
    x, w = bf16(torch.randn(9, 1024)), bf16(torch.randn(2048, 1024) / 32)
    h = bf16(x @ w.T)
    a, b = h.chunk(2, -1)
    return g, {"x": x, "w": w}, {"o": bf16(bf16(F.silu(a)) * b)}


@case
def linear_3d_with_bias_and_gelu_erf():
    g = graph("lin3", [("x", [2, "S", 256], "bf16"), ("w", [384, 256], "bf16"), ("b", [384], "bf16")], [
        node("y", "linear", ["x", "w", "b"]),
        node("g", "gelu", ["y"])], ["g"])
    x, w, b = bf16(torch.randn(2, 11, 256)), bf16(torch.randn(384, 256) / 16), bf16(torch.randn(384))
    return g, {"x": x, "w": w, "b": b}, {"g": bf16(F.gelu(bf16(F.linear(x, w, b))))}


@case
def var_std_and_log_softmax():
    g = graph("stats", [("x", ["M", 1000], "f32")], [
        node("v", "var", ["x"], dim=-1),
        node("s", "std", ["x"], dim=-1, correction=0),
        node("l", "log_softmax", ["x"], dim=-1)], ["v", "s", "l"])
    x = torch.randn(13, 1000) * 2
    return g, {"x": x}, {"v": x.var(-1), "s": x.std(-1, correction=0), "l": F.log_softmax(x, -1)}


@case
def argmax_and_where():
    g = graph("pick", [("x", ["M", 300], "f32")], [
        node("i", "argmax", ["x"], dim=-1),
        node("z", "gt", ["x", 0.0]),
        node("r", "where", ["z", "x", 0.0]),
        node("c", "clamp", ["r"], min=0.1, max=1.5)], ["i", "c"])
    x = torch.randn(17, 300)
    return g, {"x": x}, {"i": x.argmax(-1).int(), "c": torch.where(x > 0, x, 0.0).clamp(0.1, 1.5)}


@case
def batched_matmul_broadcast_weight():
    g = graph("bmm", [("x", [3, "M", 128], "f16"), ("w", [128, 200], "f16")], [
        node("y", "matmul", ["x", "w"]),
        node("r", "relu", ["y"])], ["r"])
    x, w = torch.randn(3, 21, 128).half().float(), (torch.randn(128, 200) / 8).half().float()
    return g, {"x": x, "w": w}, {"r": torch.relu((x @ w).half().float())}


@case
def causal_masked_softmax_from_iota():
    g = graph("causal", [("s", [2, 64, 64], "f32")], [
        node("r", "iota", [], shape=[64, 64], dim=0, dtype="i32"),
        node("c", "iota", [], shape=[64, 64], dim=1, dtype="i32"),
        node("m", "gt", ["c", "r"]),
        node("f", "masked_fill", ["s", "m", {"value": "-inf"}]),
        node("p", "softmax", ["f"], dim=-1)], ["p"])
    s = torch.randn(2, 64, 64)
    mask = torch.ones(64, 64, dtype=torch.bool).triu(1)
    return g, {"s": s}, {"p": torch.softmax(s.masked_fill(mask, float("-inf")), -1)}


@case
def rope_rotate_half_on_a_projection():
    g = graph("rope", [("x", ["T", 256], "bf16"), ("w", [256, 256], "bf16"), ("cos", ["T", 64], "f32"),
                       ("sin", ["T", 64], "f32")], [
        node("q", "linear", ["x", "w"]),
        node("qh", "view", ["q"], shape=["T", 4, 64]),
        node("x1", "slice", ["qh"], dim=-1, start=0, end=32),
        node("x2", "slice", ["qh"], dim=-1, start=32, end=64),
        node("n2", "neg", ["x2"]),
        node("rh", "cat", ["n2", "x1"], dim=-1),
        node("c", "unsqueeze", ["cos"], dim=1),
        node("sn", "unsqueeze", ["sin"], dim=1),
        node("a", "mul", ["qh", "c"]),
        node("b", "mul", ["rh", "sn"]),
        node("o", "add", ["a", "b"])], ["o"])
    x, w = bf16(torch.randn(10, 256)), bf16(torch.randn(256, 256) / 16)
    pos = torch.arange(10).float()[:, None] * (1e4 ** (-torch.arange(32).float() / 32))
    cos, sin = torch.cat([pos.cos(), pos.cos()], -1), torch.cat([pos.sin(), pos.sin()], -1)
    q = bf16(x @ w.T).view(10, 4, 64)
    rh = torch.cat([-q[..., 32:], q[..., :32]], -1)
    ref = q * cos[:, None] + rh * sin[:, None]  # bf16 times f32: f32
    return g, {"x": x, "w": w, "cos": cos, "sin": sin}, {"o": ref}


@case
def embedding_then_scale():
    g = graph("emb", [("ids", ["B", "S"], "i32"), ("table", [1000, 128], "bf16")], [
        node("e", "embedding", ["ids", "table"]),
        node("o", "mul", ["e", 11.3])], ["o"])
    ids, table = torch.randint(0, 1000, (3, 7), dtype=torch.int32), bf16(torch.randn(1000, 128))
    return g, {"ids": ids, "table": table}, {"o": bf16(F.embedding(ids.long(), table) * 11.3)}


@case
def softmax_over_a_vocabulary():
    g = graph("vocab", [("x", ["N", 50000], "f32")], [node("p", "softmax", ["x"], dim=-1)], ["p"])
    x = torch.randn(5, 50000) * 4
    return g, {"x": x}, {"p": torch.softmax(x, -1)}


@case
def permute_reshape_and_sum():
    g = graph("perm", [("x", [6, 10, 16], "f32")], [
        node("p", "permute", ["x"], dims=[1, 0, 2]),
        node("r", "reshape", ["p"], shape=[10, 96]),
        node("s", "sum", ["r"], dim=-1, keepdim=True),
        node("o", "div", ["r", "s"])], ["o"])
    x = torch.rand(6, 10, 16) + 0.5
    r = x.permute(1, 0, 2).reshape(10, 96)
    return g, {"x": x}, {"o": r / r.sum(-1, keepdim=True)}


@case
def gqa_scores_repeat_interleave():
    g = graph("gqa", [("q", [2, 8, "S", 64], "bf16"), ("k", [2, 2, "S", 64], "bf16")], [
        node("kr", "repeat_interleave", ["k"], repeats=4, dim=1),
        node("kt", "transpose", ["kr"], dim0=-2, dim1=-1),
        node("s", "matmul", ["q", "kt"]),
        node("o", "mul", ["s", 0.125])], ["o"])
    q, k = bf16(torch.randn(2, 8, 33, 64)), bf16(torch.randn(2, 2, 33, 64))
    s = bf16(q @ k.repeat_interleave(4, dim=1).transpose(-2, -1))
    return g, {"q": q, "k": k}, {"o": bf16(s * 0.125)}



@case
def multi_axis_stats():
    g = graph("inorm", [("x", ["N", 6, 7, 9], "f32")], [
        node("m", "mean", ["x"], dim=[-2, -1], keepdim=True),
        node("v", "var", ["x"], dim=[2, 3], keepdim=True, correction=0),
        node("d", "sub", ["x", "m"]),
        node("ve", "add", ["v", 1e-5]),
        node("r", "rsqrt", ["ve"]),
        node("y", "mul", ["d", "r"]),
        node("s", "std", ["x"], dim=[1, 3]),
        node("a", "amax", ["x"], dim=[1, 2, 3])], ["y", "s", "a"])
    x = torch.randn(3, 6, 7, 9) * 3 + 1
    m = x.mean(dim=(-2, -1), keepdim=True)
    v = x.var(dim=(2, 3), keepdim=True, correction=0)
    return g, {"x": x}, {"y": (x - m) * torch.rsqrt(v + 1e-5), "s": x.std(dim=(1, 3)), "a": x.amax(dim=(1, 2, 3))}


@case
def norm_spellings():
    g = graph("norms", [("x", ["N", 6, 5, 7], "f32"), ("w", [6], "f32"), ("b", [6], "f32"),
                        ("rm", [6], "f32"), ("rv", [6], "f32"), ("h", ["M", 64], "f32"), ("w2", [5, 7], "f32")], [
        node("gn", "group_norm", ["x", "w", "b"], num_groups=3),
        node("in", "instance_norm", ["x"]),
        node("bn", "batch_norm", ["x", "rm", "rv", "w", "b"], eps=1e-3),
        node("nz", "normalize", ["h"], dim=-1),
        node("n1", "vector_norm", ["h"], ord=1, dim=-1),
        node("n3", "norm", ["h"], p=3),
        node("ln", "layer_norm", ["x", "w2"])], ["gn", "in", "bn", "nz", "n1", "n3", "ln"])
    x, h = torch.randn(2, 6, 5, 7) * 2 + 0.5, torch.randn(5, 64)
    w, b, rm, rv, w2 = torch.rand(6) + 0.5, torch.randn(6), torch.randn(6), torch.rand(6) + 0.1, torch.randn(5, 7)
    return g, {"x": x, "w": w, "b": b, "rm": rm, "rv": rv, "h": h, "w2": w2}, {
        "gn": F.group_norm(x, 3, w, b), "in": F.instance_norm(x),
        "bn": F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3), "nz": F.normalize(h, dim=-1),
        "n1": torch.linalg.vector_norm(h, ord=1, dim=-1), "n3": h.norm(p=3),
        "ln": F.layer_norm(x, (5, 7), w2)}


@case
def more_spellings():
    g = graph("more", [("x", ["M", 96], "bf16"), ("y", ["M", 96], "bf16")], [
        node("a", "add", ["x", "y"], alpha=2.0),
        node("lo", "clamp_min", ["a"], min=-1.0),
        node("ls", "logsigmoid", ["lo"]),
        node("gl", "glu", ["x"]),
        node("p", "softmax", ["y"], dim=-1, dtype="f32"),
        node("s", "sum", ["x"], dim=-1, dtype="f32")], ["ls", "gl", "p", "s"])
    x, y = bf16(torch.randn(7, 96) * 3), bf16(torch.randn(7, 96))
    lo = bf16(torch.add(x, y, alpha=2)).clamp_min(-1)
    return g, {"x": x, "y": y}, {"ls": bf16(F.logsigmoid(lo)), "gl": bf16(F.glu(x)),
                                 "p": F.softmax(y, -1, dtype=torch.float32), "s": x.sum(-1, dtype=torch.float32)}

NPY = {"f32": np.float32, "bf16": np.float32, "f16": np.float16, "i32": np.int32}


def run(cli, work, fn):
    g, inputs, refs = fn()
    path = f"{work}/{fn.__name__}.json"
    with open(path, "w") as f:
        json.dump(g, f)
    dtypes = {i["name"]: i["dtype"] for i in g["inputs"]}
    args = [cli, "run", path, "--no-disk-cache"]
    for name, t in inputs.items():
        np.save(f"{work}/{fn.__name__}_{name}.npy", t.numpy().astype(NPY[dtypes[name]]))
        args.append(f"--input={name}={work}/{fn.__name__}_{name}.npy")
    for name in refs:
        args.append(f"--output={name}={work}/{fn.__name__}_out_{name}.npy")
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        return f"FAILED: {fn.__name__}: tilefuse run exited {r.returncode}:\n{r.stdout[-1500:]}{r.stderr[-1500:]}"
    worst = []
    for name, ref in refs.items():
        got = torch.from_numpy(np.load(f"{work}/{fn.__name__}_out_{name}.npy").astype(np.float64))
        ref = ref.double()
        if tuple(got.shape) != tuple(ref.shape):
            return f"FAILED: {fn.__name__}: output {name} shape {tuple(got.shape)}, PyTorch {tuple(ref.shape)}"
        err = ((got - ref).norm() / ref.norm().clamp_min(1e-30)).item()
        worst.append(f"{name} {err:.1e}")
        if not err < 2e-2:
            return f"FAILED: {fn.__name__}: output {name} relative error {err:.3e} against PyTorch"
    kernels = next((line for line in r.stdout.splitlines() if "kernel" in line), "")
    return f"ok: {fn.__name__}: {', '.join(worst)} ({kernels.strip()})"


def main():
    cli, work = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    failed = 0
    for fn in CASES:
        line = run(cli, work, fn)
        failed += line.startswith("FAILED")
        print(line, flush=True)
    print(f"check_torch_graphs: {len(CASES) - failed} of {len(CASES)} match PyTorch")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
