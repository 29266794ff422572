//! Instantiating without type-checking the exports again.
//!
//! A bindgen `PluginPre::instantiate_async` type-checks every export of every new instance
//! (about 8 k instructions per instance for three exports, ~4 % of a dispatch). An export's
//! type belongs to the component, so it is the same in every instance of one `InstancePre`:
//! [`super::PluginPre`] checks the first instance and fetches the exports of later ones by
//! index only.

/// Defines `unsafe fn instantiate_prechecked` in a bindgen module whose world exports the
/// given functions. Expanded inside that module because the generated structs' fields are
/// private to it.
macro_rules! prechecked_instantiate {
    ($($export:ident),+ $(,)?) => {
        /// A fresh instance of `pre`, its exports looked up by index without type checks.
        ///
        /// # Safety
        ///
        /// An earlier instance of the same `pre` must have passed `PluginPre::instantiate_async`
        /// (whose checks the calls through the returned `Plugin` rely on).
        pub(crate) async unsafe fn instantiate_prechecked(
            pre: &PluginPre<crate::runtime::state::HostState>,
            store: &mut wasmtime::Store<crate::runtime::state::HostState>,
        ) -> wasmtime::Result<Plugin> {
            let instance = pre.instance_pre.instantiate_async(&mut *store).await?;
            Ok(Plugin {
                $($export: instance.get_func(&mut *store, &pre.indices.$export).ok_or_else(|| {
                    wasmtime::format_err!(concat!("the instance has no export `", stringify!($export), "`"))
                })?,)+
            })
        }
    };
}
