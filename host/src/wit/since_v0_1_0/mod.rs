//! `plaza:plugin@0.1.0`: frozen. Its host functions and exports convert into the latest
//! version's types and delegate to the one implementation the host keeps (see [`host`]).

mod convert;
mod host;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

prechecked_instantiate!(describe, handle_event, review_message);

pub use plaza::plugin::types;

/// The WIT package version of these bindings.
pub const VERSION: &str = "0.1.0";

pub(crate) use convert::event;
pub(crate) use host::add_to_linker;
