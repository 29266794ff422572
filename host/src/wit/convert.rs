//! Moving values between two versions' bindings of the same WIT type.
//!
//! `bindgen!` generates distinct Rust types per WIT version even where the WIT is unchanged, so
//! an older version's host functions and exports convert field by field into the latest types
//! (and results back). Unchanged records get both directions from [`both_ways!`]; variants that
//! changed are converted by hand in the version's module.

/// Converts a value of one version's bindings into another's.
pub trait Convert<T> {
    /// The value in the other version's type.
    fn convert(self) -> T;
}

macro_rules! identical {
    ($($t:ty),* $(,)?) => {
        $(impl Convert<$t> for $t {
            fn convert(self) -> $t {
                self
            }
        })*
    };
}

identical!((), bool, u8, u16, u32, u64, String, (String, String));

impl<A: Convert<B>, B> Convert<Vec<B>> for Vec<A> {
    fn convert(self) -> Vec<B> {
        self.into_iter().map(Convert::convert).collect()
    }
}

impl<A: Convert<B>, B> Convert<Option<B>> for Option<A> {
    fn convert(self) -> Option<B> {
        self.map(Convert::convert)
    }
}

impl<A: Convert<B>, B, E: Convert<F>, F> Convert<Result<B, F>> for Result<A, E> {
    fn convert(self) -> Result<B, F> {
        self.map(Convert::convert).map_err(Convert::convert)
    }
}

/// Both directions for a record whose fields are the same in two versions:
/// `both_ways!(old::Message, new::Message { id, channel })`.
macro_rules! both_ways {
    ($a:ident :: $at:ident, $b:ident :: $bt:ident { $($field:ident),* $(,)? }) => {
        impl $crate::wit::convert::Convert<$b::$bt> for $a::$at {
            fn convert(self) -> $b::$bt {
                $b::$bt { $($field: $crate::wit::convert::Convert::convert(self.$field)),* }
            }
        }
        impl $crate::wit::convert::Convert<$a::$at> for $b::$bt {
            fn convert(self) -> $a::$at {
                $a::$at { $($field: $crate::wit::convert::Convert::convert(self.$field)),* }
            }
        }
    };
}

pub(crate) use both_ways;

/// Both directions for an enum (cases without payloads) that is the same in two versions.
macro_rules! enum_both_ways {
    ($a:ident :: $at:ident, $b:ident :: $bt:ident { $($case:ident),* $(,)? }) => {
        impl $crate::wit::convert::Convert<$b::$bt> for $a::$at {
            fn convert(self) -> $b::$bt {
                match self { $($a::$at::$case => $b::$bt::$case),* }
            }
        }
        impl $crate::wit::convert::Convert<$a::$at> for $b::$bt {
            fn convert(self) -> $a::$at {
                match self { $($b::$bt::$case => $a::$at::$case),* }
            }
        }
    };
}

pub(crate) use enum_both_ways;
