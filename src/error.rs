//! The one error type of the crate and its translation into Python exceptions. Inside Rust,
//! `?` everywhere; at the API boundary `From<PsycoError> for PyErr` picks the exception the
//! guide promises: `TypeError`/`ValueError` for bad arguments, `psyco.error` for psyco's own.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(psyco, error, pyo3::exceptions::PyException, "Raised by psyco's own functions (never inside your accelerated code).");
pyo3::create_exception!(psyco, warning, pyo3::exceptions::PyWarning, "Issued where psyco may change the meaning of a program.");

#[derive(Debug)]
pub enum PsycoError {
    /// An argument of the wrong type.
    Type(String),
    /// An argument of the right type but an unusable value.
    Value(String),
    /// A psyco-specific failure (e.g. cannotcompile() on code already compiled).
    Psyco(String),
    /// A Python exception raised while psyco worked.
    Python(PyErr),
}

impl From<PsycoError> for PyErr {
    fn from(e: PsycoError) -> PyErr {
        match e {
            PsycoError::Type(m) => PyTypeError::new_err(m),
            PsycoError::Value(m) => PyValueError::new_err(m),
            PsycoError::Psyco(m) => error::new_err(m),
            PsycoError::Python(e) => e,
        }
    }
}

impl From<PyErr> for PsycoError {
    fn from(e: PyErr) -> Self {
        PsycoError::Python(e)
    }
}

pub type Result<T> = std::result::Result<T, PsycoError>;
