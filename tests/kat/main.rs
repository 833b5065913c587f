//! Known-answer tests: keylink's own vectors and Wycheproof's.

mod keys;
mod wycheproof;
