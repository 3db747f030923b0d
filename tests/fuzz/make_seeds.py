#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into corpus/<target>/.

The seeds cover each key kind and hash mode and each operation, so that the
replay tests exercise every path even before libFuzzer has run; inputs found
by fuzzing (tools/fuzz.sh --merge) are added beside them.  The byte layouts
are documented at the top of each fuzz_*.c.
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(bytes(data))


def core_seeds():
    rnd = random.Random(1)
    for kind in range(4):
        for mode in range(5):
            for vs0 in (0, 1):
                h = kind | mode << 2 | vs0 << 5
                ops = []
                ops += [9, rnd.randrange(256), 200]          # bulk insert: growth
                ops += [11, 0]                                # iterate
                for _ in range(60):
                    op = rnd.randrange(16)
                    ops += [op | rnd.randrange(2) << 4, rnd.randrange(256)]
                    if op in (7, 8, 9, 10, 13, 14):
                        ops.append(rnd.randrange(256) if op != 7 else 3)
                ops += [10, 5, 150, 8, 0, 1, 11, 0]           # bulk delete, clone, iterate
                write("fuzz_core", f"k{kind}-m{mode}-v{vs0}", [h, rnd.choice([0, 0, 8, 100])] + ops)


def concmap_seeds():
    rnd = random.Random(2)
    for variant in range(4):
        for kind in range(4):
            for mode in (0, 2, 3):
                ops = [13, rnd.randrange(256), 180]            # bulk store
                ops += [8, 0]                                  # range
                for _ in range(80):
                    op = rnd.randrange(16)
                    ops += [op | rnd.randrange(2) << 4, rnd.randrange(256)]
                    if op in (4, 7, 9, 10, 11, 12, 13):
                        ops.append(rnd.randrange(256) if op != 10 else 3)
                ops += [9, 0, 5, 8, 0]
                write("fuzz_concmap", f"v{variant}-k{kind}-m{mode}",
                      [variant, kind | mode << 2, rnd.randrange(5)] + ops)


def iter_seeds():
    rnd = random.Random(3)
    for conc in (0, 1):
        for kind in range(4):
            for sel in range(5 if not conc else 4):
                h = kind | sel << 2 | conc << 7
                acts = []
                for _ in range(300):
                    a = rnd.choice([0, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 6])
                    acts += [a, rnd.randrange(256)]
                    if a == 8:
                        acts.append(rnd.randrange(64))
                    if a == 9:
                        acts.append(rnd.randrange(40))
                write("fuzz_iter", f"c{conc}-k{kind}-s{sel}", [h, rnd.choice([10, 60, 120])] + acts)


if __name__ == "__main__":
    core_seeds()
    concmap_seeds()
    iter_seeds()
