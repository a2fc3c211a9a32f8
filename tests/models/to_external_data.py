"""Rewrites a model directory so that every initializer lives in an external-data file.

usage: to_external_data.py SRC_DIR DST_DIR

SRC_DIR holds model.onnx, inputs.safetensors and outputs.safetensors. DST_DIR gets the same model
saved with all tensors in DST_DIR/weights.bin (the layout torch.onnx.export uses for models over
2 GB), and copies of the input and expected output files.
"""
import os
import shutil
import sys

import onnx


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    model = onnx.load(os.path.join(src, "model.onnx"))
    if os.path.exists(os.path.join(dst, "weights.bin")):
        os.remove(os.path.join(dst, "weights.bin"))
    onnx.save_model(model, os.path.join(dst, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    external = [t.name for t in onnx.load(os.path.join(dst, "model.onnx"),
                                          load_external_data=False).graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        sys.exit("to_external_data: no initializer was moved to external data")
    for f in ("inputs.safetensors", "outputs.safetensors"):
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
    print(f"to_external_data: {len(external)} initializers in {dst}/weights.bin")


if __name__ == "__main__":
    main()
