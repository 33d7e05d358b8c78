//! Every delivery format through the real binary, and a hostile corpus.
