//! JSON salvage: keeps every intact record of damaged bytes, verbatim, and nothing else.
