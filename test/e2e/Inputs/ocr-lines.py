"""Text-line images for the PP-OCR recognizer, and the comparison of two
runs' recognized text.

  ocr-lines.py render DIR        writes DIR/line-NN.npy ([1, 3, 48, 320],
                                 normalized as PP-OCR's rec preprocessing)
                                 and DIR/lines.txt (the rendered texts)
  ocr-lines.py compare KEYS REF OUT DIR...
                                 greedy CTC decoding of every line's output
                                 in the REF and OUT run folders (DIR/line-NN/
                                 holding one .npy each); prints both texts,
                                 the per-step top-1 agreement and the
                                 character accuracy against the rendered
                                 text, and a JSON summary last
"""
import glob
import json
import os
import sys

import numpy as np

LINES = [
    "Hello World 2026",
    "quantized compiler",
    "The quick brown fox",
    "OPEN 9:30 - 17:00",
    "invoice no. 48213",
    "Main Street 742",
    "temperature 21.5 C",
    "Thank you!",
]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def render(out):
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 30)
    os.makedirs(out, exist_ok=True)
    for i, text in enumerate(LINES):
        left, top, right, bottom = font.getbbox(text)
        image = Image.new("RGB", (right - left + 16, 48), "white")
        ImageDraw.Draw(image).text((8 - left, (48 - (bottom - top)) // 2 - top),
                                   text, font=font, fill="black")
        # PP-OCR rec: height 48, width by the aspect ratio up to 320, the
        # rest zero after normalizing to [-1, 1].
        width = min(320, int(round(image.width * 48 / image.height)))
        image = image.resize((width, 48), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        x = np.zeros((1, 3, 48, 320), dtype=np.float32)
        x[0, :, :, :width] = (pixels - 0.5) / 0.5
        np.save(os.path.join(out, "line-%02d.npy" % i), x)
    with open(os.path.join(out, "lines.txt"), "w") as f:
        f.write("\n".join(LINES) + "\n")


def decode(probs, keys):
    steps = probs.reshape(-1, probs.shape[-1]).argmax(axis=1)
    text, last = [], 0
    for s in steps:
        if s != last and s != 0:
            text.append(keys[s - 1] if s - 1 < len(keys) else " ")
        last = s
    return "".join(text), steps


def distance(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[len(b)]


def output_of(folder):
    files = glob.glob(os.path.join(folder, "*.npy"))
    if len(files) != 1:
        sys.exit("ocr-lines.py: expected one output .npy in %s" % folder)
    return np.load(files[0])


def compare(keys_path, ref, out, lines_dir):
    with open(keys_path, encoding="utf-8") as f:
        keys = [line.rstrip("\n") for line in f] + [" "]
    with open(os.path.join(lines_dir, "lines.txt")) as f:
        truth = f.read().splitlines()
    agree = steps = 0
    errors = {"ref": 0, "out": 0}
    chars = 0
    for i, text in enumerate(truth):
        a, sa = decode(output_of(os.path.join(ref, "line-%02d" % i)), keys)
        b, sb = decode(output_of(os.path.join(out, "line-%02d" % i)), keys)
        agree += int((sa == sb).sum())
        steps += len(sa)
        chars += len(text)
        errors["ref"] += distance(a, text)
        errors["out"] += distance(b, text)
        print("%-22s float: %-22s quantized: %s" % (text, a, b))
    summary = {
        "top1_agreement": agree / steps,
        "float_char_accuracy": 1 - errors["ref"] / chars,
        "quantized_char_accuracy": 1 - errors["out"] / chars,
    }
    print("per-step top-1 agreement %.4f; character accuracy float %.4f, quantized %.4f"
          % (summary["top1_agreement"], summary["float_char_accuracy"],
             summary["quantized_char_accuracy"]))
    print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "render":
        render(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "compare":
        compare(*sys.argv[2:])
    else:
        sys.exit(__doc__)
