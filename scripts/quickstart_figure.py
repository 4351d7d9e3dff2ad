"""Makes samples/maps_model/quickstart.jpg, the README's figure, from a quick start's output:
the sample photos, the shipped model's maps (translated/maps_model/) and the real maps.
    python3 scripts/quickstart_figure.py      # after ./scripts/quickstart.sh; needs Pillow"""
import glob
import os

from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
photos = sorted(glob.glob(os.path.join(root, "samples/maps/testA/*.jpg")))
side = 128
figure = Image.new("RGB", (side * len(photos), side * 3), "white")
for i, photo in enumerate(photos):
    n = os.path.basename(photo).split("_")[0]
    rows = [photo, os.path.join(root, f"translated/maps_model/{n}_A.png"),
            os.path.join(root, f"samples/maps/testB/{n}_B.jpg")]
    for j, path in enumerate(rows):
        figure.paste(Image.open(path).convert("RGB").resize((side, side)), (i * side, j * side))
figure.save(os.path.join(root, "samples/maps_model/quickstart.jpg"), quality=92)
