//! Conversions between model types and the plain columns both SQL backends store.
