//! `plaza new NAME --lang rust|python|js`: a plugin project that builds out of the box.
//!
//! The templates live in `host/templates/` and are embedded in the binary. Every project gets a
//! `plaza.toml` manifest, the plugin's code with its logic in a host-free module, a unit test of
//! that logic, an `events.jsonl` to replay with `plaza run`, and a README with the build, package
//! and run commands. Python and JavaScript projects also get the `plaza:plugin@0.2.0` WIT their
//! toolchains build against (Rust gets it through the SDK).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use plaza_host::manifest::PluginId;

/// The language of the new project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with the Plaza SDK, built for wasm32-wasip2.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// The plugin's id (lowercase letters, digits and '-'); also the folder's name.
    name: String,
    /// The plugin's language.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to create the project (default: ./NAME). Must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Rust only: the Plaza SDK's folder, which is not published on crates.io. Default: the
    /// `sdk/` of the Plaza checkout this `plaza` was built from.
    #[arg(long, value_name = "DIR")]
    sdk_path: Option<PathBuf>,
}

/// A file of a template: its path in the project and its text with `{{…}}` placeholders.
type File = (&'static str, &'static str);

const COMMON: [File; 2] = [
    ("plaza.toml", include_str!("../../../templates/common-plaza.toml")),
    ("events.jsonl", include_str!("../../../templates/events.jsonl")),
];

const RUST: [File; 4] = [
    ("Cargo.toml", include_str!("../../../templates/rust/Cargo.toml")),
    ("src/lib.rs", include_str!("../../../templates/rust/src/lib.rs")),
    ("README.md", include_str!("../../../templates/rust/README.md")),
    (".gitignore", include_str!("../../../templates/rust/gitignore")),
];

const PYTHON: [File; 5] = [
    ("app.py", include_str!("../../../templates/python/app.py")),
    ("logic.py", include_str!("../../../templates/python/logic.py")),
    ("test_logic.py", include_str!("../../../templates/python/test_logic.py")),
    ("README.md", include_str!("../../../templates/python/README.md")),
    (".gitignore", include_str!("../../../templates/python/gitignore")),
];

const JS: [File; 7] = [
    ("app.js", include_str!("../../../templates/js/app.js")),
    ("logic.js", include_str!("../../../templates/js/logic.js")),
    ("logic.test.js", include_str!("../../../templates/js/logic.test.js")),
    ("package.json", include_str!("../../../templates/js/package.json")),
    (
        "componentize.mjs",
        include_str!("../../../templates/js/componentize.mjs"),
    ),
    ("README.md", include_str!("../../../templates/js/README.md")),
    (".gitignore", include_str!("../../../templates/js/gitignore")),
];

/// The WIT Python and JavaScript projects build against.
const WIT: [File; 9] = [
    ("wit/world.wit", include_str!("../../../../wit/since_v0.2.0/world.wit")),
    ("wit/types.wit", include_str!("../../../../wit/since_v0.2.0/types.wit")),
    (
        "wit/logging.wit",
        include_str!("../../../../wit/since_v0.2.0/logging.wit"),
    ),
    (
        "wit/messaging.wit",
        include_str!("../../../../wit/since_v0.2.0/messaging.wit"),
    ),
    (
        "wit/moderation.wit",
        include_str!("../../../../wit/since_v0.2.0/moderation.wit"),
    ),
    (
        "wit/members.wit",
        include_str!("../../../../wit/since_v0.2.0/members.wit"),
    ),
    ("wit/kv.wit", include_str!("../../../../wit/since_v0.2.0/kv.wit")),
    ("wit/http.wit", include_str!("../../../../wit/since_v0.2.0/http.wit")),
    (
        "wit/scheduler.wit",
        include_str!("../../../../wit/since_v0.2.0/scheduler.wit"),
    ),
];

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    PluginId::new(args.name.as_str()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    anyhow::ensure!(!occupied, "{} already exists and is not empty", dir.display());

    let sdk = match args.lang {
        Lang::Rust => sdk_path(args.sdk_path.as_deref())?,
        Lang::Python | Lang::Js => String::new(),
    };
    let vars = [
        ("{{name}}", args.name.clone()),
        ("{{crate}}", args.name.replace('-', "_")),
        ("{{sdk_path}}", sdk),
    ];
    let files: Vec<File> = match args.lang {
        Lang::Rust => COMMON.iter().chain(&RUST).copied().collect(),
        Lang::Python => COMMON.iter().chain(&PYTHON).chain(&WIT).copied().collect(),
        Lang::Js => COMMON.iter().chain(&JS).chain(&WIT).copied().collect(),
    };
    for (path, text) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let text = vars.iter().fold(text.to_string(), |t, (k, v)| t.replace(k, v));
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    println!(
        "created {:?} plugin {} in {}; see {} for the build, package and run commands",
        args.lang,
        args.name,
        dir.display(),
        dir.join("README.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The SDK folder for `Cargo.toml`, absolute so the project can live anywhere.
fn sdk_path(given: Option<&Path>) -> anyhow::Result<String> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk"),
    };
    let path = path.canonicalize().with_context(|| {
        format!(
            "the Plaza SDK is not at {}: pass --sdk-path with the sdk/ folder of a Plaza checkout",
            path.display()
        )
    })?;
    anyhow::ensure!(
        path.join("Cargo.toml").exists(),
        "{} has no Cargo.toml: pass --sdk-path with the sdk/ folder of a Plaza checkout",
        path.display()
    );
    // TOML basic strings: escape backslashes and quotes (Windows paths, odd folder names).
    Ok(path.display().to_string().replace('\\', "\\\\").replace('"', "\\\""))
}
