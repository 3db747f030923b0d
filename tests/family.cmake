# The thread-safe family (rwmap, shardmap, syncmap, cowmap) through concmap.h.
# Every program loops over concmap_kinds, so a variant added to concmap.c's
# table is covered by all of them.
gomap_test(concmap_basic SOURCES concmap_basic.c LABELS family)
gomap_test(concmap_model SOURCES concmap_model.c LABELS family)
gomap_test(concmap_concurrent SOURCES concmap_concurrent.c LABELS family)
gomap_test(concmap_linearizable SOURCES concmap_linearizable.c LABELS family)
