"""tilefuse from Python: build or read graphs, compile them, and run them on tensors that
speak DLPack (PyTorch, CuPy, JAX), zero-copy.

    import tilefuse, torch
    b = tilefuse.GraphBuilder("scale_relu")
    x = b.input("x", ["N", 64], "f32")
    b.output(b.op("relu", [b.op("mul", [x, b.scalar(0.5)])]))
    plan = tilefuse.compile(b.build())
    print(plan.explain())
    plan.run([xt], [yt], stream=torch.cuda.current_stream().cuda_stream)
"""
from ._tilefuse import (  # noqa: F401
    Graph,
    GraphBuilder,
    Plan,
    TilefuseError,
    compile,
    default_cache_dir,
    version,
)

__version__ = version()
