# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# The thin bridge between Python and the C engine: raw calls only, no logic.
# One file per concern, textually included into this single extension module.
include "_cdefs.pxi"
include "_system.pxi"
include "_quants.pxi"
include "_graph.pxi"
include "_bench.pxi"
include "_vocab.pxi"
include "_gguf.pxi"
