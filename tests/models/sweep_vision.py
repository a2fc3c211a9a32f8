"""Unseen-model sweep for torchvision classifiers: exports each model with perturbed weights at the
given opsets, runs `refit run` and compares with PyTorch (max abs error <= 1e-4 * max|reference|).
Not part of the test suite (it takes minutes); run by hand to check models the tests never saw.

usage: REFIT=build/release/refit [REFIT_ENGINE=refittable|stripped|static] \
       /usr/bin/python3 tests/models/sweep_vision.py MODEL,MODEL,... OPSETS
e.g.   /usr/bin/python3 tests/models/sweep_vision.py squeezenet1_0,efficientnet_b0,convnext_tiny 13,17
"""
import sys, os, subprocess, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch, torchvision, numpy as np
from safetensors_io import save as write_safetensors, load as read_safetensors
from refit_runner import run_refit
torch.set_num_threads(1)
REFIT = os.environ.get('REFIT', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'build', 'release', 'refit'))
models = sys.argv[1].split(',')
opsets = [int(x) for x in sys.argv[2].split(',')]
for name in models:
    for opset in opsets:
        d = os.path.join(os.environ.get('SWEEP_DIR', '/tmp/refit_sweep/vision'), f'{name}_{opset}'); os.makedirs(d, exist_ok=True)
        try:
            torch.manual_seed(0)
            kw = {}
            if name == 'googlenet' or name.startswith('inception'): kw = dict(aux_logits=False, init_weights=False)
            m = getattr(torchvision.models, name)(weights=None, **kw).eval()
            with torch.no_grad():
                for p in m.state_dict().values():
                    if p.dtype.is_floating_point: p.add_(0.01*torch.randn_like(p))
            size = 224 if ('vit' in name or 'swin' in name or 'inception' in name) else 96
            x = torch.randn(1,3,size,size)
            torch.onnx.export(m, (x,), d+'/model.onnx', opset_version=opset, input_names=['x'], output_names=['y'],
                              training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
            with torch.no_grad(): y = m(x).numpy()
            write_safetensors(d+'/in.safetensors', {'x': x.numpy()})
            t=time.time()
            r = run_refit(d+'/model.onnx', d+'/in.safetensors', d+'/out.safetensors')
            if r.returncode: print(f'{name} opset{opset}: REFIT FAIL {r.stderr.strip()[:400]}'); continue
            out = read_safetensors(d+'/out.safetensors')['y']
            err = np.abs(out-y).max()/np.abs(y).max()
            print(f'{name} opset{opset}: rel err {err:.2e} {"OK" if err<=1e-4 else "MISMATCH"} ({time.time()-t:.1f}s)', flush=True)
        except Exception as e:
            print(f'{name} opset{opset}: EXPORT FAIL {type(e).__name__}: {str(e)[:200]}')
