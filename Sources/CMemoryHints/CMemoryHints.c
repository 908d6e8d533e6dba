// The hints are static inline functions in the header; this file exists because a C target needs a source.
#include "CMemoryHints.h"
