"""The Python binding: graphs, compiles and kernel counts on the CPU (NVRTC for sm_90, no
GPU needed); on a GPU with PyTorch, runs on torch tensors through DLPack against eager."""
import json
import os

import pytest

import tilefuse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mlp(hidden=256, ffn=512):
    b = tilefuse.GraphBuilder("mlp")
    x = b.input("x", ["M", hidden], "bf16")
    wg = b.input("w_gate", [ffn, hidden], "bf16")
    wu = b.input("w_up", [ffn, hidden], "bf16")
    t = {"dim0": 0, "dim1": 1}
    g = b.op("matmul", [x, b.op("transpose", [wg], t)])
    u = b.op("matmul", [x, b.op("transpose", [wu], t)])
    b.output(b.op("cast", [b.op("mul", [b.op("silu", [g]), u])], {"dtype": "bf16"}, name="h"))
    return b.build()


def rms_norm_decomposed():
    b = tilefuse.GraphBuilder("rms")
    x = b.input("x", ["M", 512], "f32")
    w = b.input("w", [512], "f32")
    ms = b.op("mean", [b.op("mul", [x, x])], {"dim": 1, "keepdim": True})
    r = b.op("rsqrt", [b.op("add", [ms, b.scalar(1e-6)])])
    b.output(b.op("mul", [b.op("mul", [x, r]), w], name="y"))
    return b.build()


def test_version():
    assert tilefuse.__version__ == tilefuse.version()
    assert tilefuse.__version__.count(".") == 2


def test_builder_graph_round_trips_through_json():
    g = mlp()
    assert g.name == "mlp"
    assert g.input_names == ["x", "w_gate", "w_up"]
    assert g.output_names == ["h"]
    assert g.symbols == ["M"]
    again = tilefuse.Graph.from_json(g.to_json())
    assert again.to_json() == g.to_json()
    assert json.loads(g.to_json())["format"] >= 2


def test_catalog_graphs_read_and_compile():
    g = tilefuse.Graph.from_file(os.path.join(REPO, "bench/graphs/pointwise_bias_silu.json"))
    plan = tilefuse.compile(g, arch="sm_90")
    assert plan.num_kernels == 1
    assert plan.arch == "sm_90"


def test_kernel_counts_fused_and_unfused():
    g = rms_norm_decomposed()
    fused = tilefuse.compile(g, arch="sm_90")
    unfused = tilefuse.compile(g, arch="sm_90", fuse=False)
    assert fused.num_kernels == 1, fused.explain()
    assert unfused.num_kernels > 1
    # Kernels after the first launch overlapped on sm_90 unless the option says otherwise.
    assert "launched overlapped" in unfused.explain()
    serial = tilefuse.compile(g, arch="sm_90", fuse=False, overlap_launches=False)
    assert "launched overlapped" not in serial.explain()
    assert serial.num_kernels == unfused.num_kernels
    plan = tilefuse.compile(mlp(), arch="sm_90", m_classes=[16, 128])
    text = plan.explain()
    assert "class M <= 16" in text and "class M > 128" in text, text
    # The gate and up GEMMs share their A: one dual GEMM.
    assert plan.num_kernels == 1 and "dual GEMM" in text, text
    assert plan.workspace_bytes({"M": 4096}) >= 0


def test_weight_only_gemm_dequantizes_in_its_load():
    b = tilefuse.GraphBuilder("w4")
    x = b.input("x", ["M", 256], "bf16")
    q = b.input("q", [512, 256], "i4")
    s = b.input("s", [512, 2], "bf16")
    w = b.op("dequant", [q, s], {"group": 128, "dtype": "bf16"})
    b.output(b.op("matmul", [x, b.op("transpose", [w], {"dim0": 0, "dim1": 1})], name="y"))
    plan = tilefuse.compile(b.build(), arch="sm_90", m_classes=[16, 128])
    # One kernel up to 128 rows; past them the weight dequantized once, then a TMA GEMM.
    assert plan.num_kernels == 3, plan.explain()
    text = plan.explain()
    assert "dequantized in the load" in text and "skinny" in text, text
    assert "(M <= 128) tile matmul" in text and "(M > 128) fused" in text, text


def test_errors_raise_with_the_node_named():
    b = tilefuse.GraphBuilder("bad")
    x = b.input("x", [4, 8], "f32")
    b.output(b.op("matmull", [x, x], name="oops"))
    with pytest.raises(tilefuse.TilefuseError, match="oops"):
        b.build()
    with pytest.raises(tilefuse.TilefuseError, match="dtype 'f64'"):
        tilefuse.GraphBuilder().input("x", [4], "f64")
    with pytest.raises(tilefuse.TilefuseError, match="line 1"):
        tilefuse.Graph.from_json("{")


def test_run_refuses_what_is_not_a_tensor():
    plan = tilefuse.compile(rms_norm_decomposed(), arch="sm_90")
    with pytest.raises(tilefuse.TilefuseError, match="not a DLPack tensor"):
        plan.run([1, 2], [3])


def test_run_names_the_tensor_that_is_not_on_the_gpu():
    np = pytest.importorskip("numpy")
    plan = tilefuse.compile(rms_norm_decomposed(), arch="sm_90")
    x = np.zeros((3, 512), np.float32)
    w = np.zeros((512,), np.float32)
    with pytest.raises(tilefuse.TilefuseError, match=r"input 0 \('x'\).*host memory.*CUDA"):
        plan.run([x, w], [np.zeros_like(x)])


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


@pytest.mark.skipif(_torch_cuda() is None, reason="needs PyTorch with a CUDA device")
def test_runs_match_pytorch_eager():
    torch = _torch_cuda()
    torch.manual_seed(0)
    stream = torch.cuda.current_stream().cuda_stream
    plan = tilefuse.compile(rms_norm_decomposed())
    for m in (1, 77, 4096):
        x = torch.randn(m, 512, device="cuda")
        w = torch.randn(512, device="cuda")
        y = torch.empty_like(x)
        plan.run([x, w], [y], stream=stream)
        want = x * torch.rsqrt((x * x).mean(dim=1, keepdim=True) + 1e-6) * w
        torch.testing.assert_close(y, want, rtol=1e-5, atol=1e-5)

    plan = tilefuse.compile(mlp())
    for m in (1, 16, 300):
        x = torch.randn(m, 256, device="cuda", dtype=torch.bfloat16)
        wg = torch.randn(512, 256, device="cuda", dtype=torch.bfloat16) / 16
        wu = torch.randn(512, 256, device="cuda", dtype=torch.bfloat16) / 16
        h = torch.empty(m, 512, device="cuda", dtype=torch.bfloat16)
        plan.run([x, wg, wu], [h], stream=stream)
        g = (x.float() @ wg.float().T)
        u = (x.float() @ wu.float().T)
        want = (torch.nn.functional.silu(g) * u).to(torch.bfloat16)
        torch.testing.assert_close(h, want, rtol=2e-2, atol=2e-2)
