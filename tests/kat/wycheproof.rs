//! Wycheproof
