# syncmap and cowmap (the RCU-reclaimed members of the family) and their
# reclamation.  The family-wide tests (family.cmake) cover them too, through
# concmap_kinds.
gomap_test(syncmap_test SOURCES syncmap_test.c LABELS family)
gomap_test(reclaim_test SOURCES reclaim_test.c LABELS family)
gomap_test(cowmap_test SOURCES cowmap_test.c LABELS family)
