//! Torture: every length argument of the 3.0 function list, zero and huge.
//!
//! Zero lengths are legal and must do the legal thing (empty input, empty
//! template, an output buffer of zero bytes → `CKR_BUFFER_TOO_SMALL` with the
//! needed length and nothing written). Huge lengths (`HUGE` = 2^63 − 1 with a
//! small real buffer) are caller lies; they are used only where the module
//! must refuse without reading — input lengths above its 2^31 limit and
//! attribute counts above 4096. Huge *output* lengths (`*pulLen`,
//! `ulMaxObjectCount`) with a small buffer would let a module write past the
//! buffer legally, so they are not tested. Where the specification allows two
//! codes the test accepts exactly those two and names the clause.

#[macro_use]
mod common;

#[path = "torture/support.rs"]
mod support;

#[path = "torture/lengths_crypto.rs"]
mod lengths_crypto;
#[path = "torture/lengths_general.rs"]
mod lengths_general;
#[path = "torture/lengths_mac.rs"]
mod lengths_mac;
#[path = "torture/lengths_message.rs"]
mod lengths_message;
#[path = "torture/lengths_objects.rs"]
mod lengths_objects;
