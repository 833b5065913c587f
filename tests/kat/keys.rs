//! keylink vectors
