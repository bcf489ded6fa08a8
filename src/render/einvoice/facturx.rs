//! SKELETON (issue 19, being replaced): the Factur-X PDF, the readable
//! PDF/A-3B with the CII embedded.

use super::RenderError;
use super::xml::Xml;

pub fn embed(readable: Vec<u8>, _xml: &Xml) -> Result<Vec<u8>, RenderError> {
    Ok(readable)
}
