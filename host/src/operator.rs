//! The operator's configuration: `operator.toml` in the data directory (or the file named by
//! `PLAZA_OPERATOR_CONFIG`). It holds what a host's operator decides for every community:
//! outbound HTTP policy (`[http]`) and which plugin packages are accepted (`[signing]`). Every
//! command that opens a data directory reads the same file, so `plaza status` shows the policy
//! `plaza serve` enforces. A missing file means the defaults, which are the strict ones.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dispatch::PlazaConfig;

/// The file name looked up in the data directory.
pub const OPERATOR_FILE: &str = "operator.toml";

/// The environment variable that names another file.
pub const OPERATOR_FILE_ENV: &str = "PLAZA_OPERATOR_CONFIG";

/// `operator.toml`, as written. Each section is one concern, so a new operator setting is one
/// new field here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// `[signing]`: which plugin packages are accepted, and the trusted platform keys.
    #[serde(default)]
    pub signing: crate::signing::SigningSettings,
    /// `[http]`: outbound HTTP policy and caps (see [`crate::host_api::http::settings`]).
    #[serde(default)]
    pub http: crate::host_api::http::settings::HttpSection,
    /// `[secrets]`: where the key that seals install secrets is.
    #[serde(default)]
    pub secrets: SecretsSection,
}

/// `[secrets]` in `operator.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    /// `key_file = "/etc/plaza/secrets.key"`: made by `plaza secret new-key`; keep it outside the
    /// data directory. `$PLAZA_SECRETS_KEY_FILE` overrides it.
    pub key_file: Option<PathBuf>,
}

/// Why the operator configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OperatorConfigError {
    /// The file exists but could not be read.
    #[error("cannot read operator configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A setting's value cannot be used.
    #[error("operator configuration {path}: {message}")]
    Setting {
        /// The file.
        path: PathBuf,
        /// Which setting and why.
        message: String,
    },
    /// The file is not valid TOML for [`OperatorConfig`].
    #[error("invalid operator configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its place in the file.
        message: String,
    },
}

impl OperatorConfig {
    /// Where the configuration for `data_dir` is read from.
    pub fn path_for(data_dir: &Path) -> PathBuf {
        match std::env::var_os(OPERATOR_FILE_ENV) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => data_dir.join(OPERATOR_FILE),
        }
    }

    /// Reads the configuration for `data_dir`; the defaults when there is no file.
    pub fn load(data_dir: &Path) -> Result<Self, OperatorConfigError> {
        let path = Self::path_for(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_toml(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(OperatorConfigError::Read { path, source }),
        }
    }

    /// Parses `text`, read from `path` (named in errors).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, OperatorConfigError> {
        toml::from_str(text).map_err(|e| OperatorConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Applies these settings on top of `config`; `path` is named in errors.
    pub fn apply(self, mut config: PlazaConfig, path: &Path) -> Result<PlazaConfig, OperatorConfigError> {
        let setting = |message: String| OperatorConfigError::Setting {
            path: path.to_path_buf(),
            message,
        };
        config.http = self.http.into_settings().map_err(setting)?;
        let key_file = match std::env::var_os(crate::admin::secrets::KEY_FILE_ENV) {
            Some(file) if !file.is_empty() => Some(PathBuf::from(file)),
            _ => self.secrets.key_file,
        };
        if let Some(file) = key_file {
            let key = crate::admin::secrets::SecretsKey::from_file(&file).map_err(setting)?;
            config.secrets_key = Some(key);
        }
        config.signing = crate::signing::HostSigning(self.signing);
        Ok(config)
    }
}

impl PlazaConfig {
    /// The defaults with the operator configuration of `data_dir` applied: what every command
    /// that opens a data directory runs with.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, OperatorConfigError> {
        OperatorConfig::load(data_dir)?.apply(PlazaConfig::default(), &OperatorConfig::path_for(data_dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_means_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        OperatorConfig::load(dir.path()).unwrap();
    }

    #[test]
    fn unknown_settings_are_refused_with_the_file_name() {
        let err = OperatorConfig::from_toml("[gadgets]\nx = 1\n", Path::new("/etc/plaza/operator.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/etc/plaza/operator.toml"), "{text}");
        assert!(text.contains("gadgets"), "{text}");
    }
}
