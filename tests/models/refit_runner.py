"""Runs `refit` for the unseen-model sweeps: the reference executor on the .onnx, or, with the
environment variable REFIT_ENGINE=refittable|stripped|static, `refit build` (for the shapes and
values of the sweep's inputs) followed by `refit run` on the engine (a stripped engine gets the
model's own weights back with --weights)."""
import os
import subprocess

REFIT = os.environ.get('REFIT', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                             'build', 'release', 'refit'))
ENGINE_MODE = os.environ.get('REFIT_ENGINE', '')


def run_refit(model, inputs, output):
    """Returns a CompletedProcess (returncode, stderr) of the build (if it failed) or the run."""
    target, extra = model, []
    if ENGINE_MODE:
        target = model[:-len('.onnx')] + '.' + ENGINE_MODE + '.engine'
        b = subprocess.run([REFIT, 'build', model, '-o', target, '--mode', ENGINE_MODE, '--quiet',
                            '--sample-inputs', inputs], capture_output=True, text=True)
        if b.returncode:
            return b
        if ENGINE_MODE == 'stripped':
            extra = ['--weights', model]
    return subprocess.run([REFIT, 'run', target, '--inputs', inputs, '-o', output] + extra,
                          capture_output=True, text=True)
