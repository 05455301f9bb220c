//! Sans-IO ZMTP 3.x for Monocoque.
#![forbid(unsafe_code)]
