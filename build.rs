//! Build script: enables pyo3's `Py_3_x` cfgs and, when the target interpreter is CPython 3.11
//! on x86-64 Linux, compiles `csrc/cpython311.c` (which includes CPython's internal headers with
//! `Py_BUILD_CORE`) and sets `cfg(psyco_native)`. Everything CPython-internal is gated on that cfg;
//! elsewhere the crate still builds and psyco runs interpreter-only.
use std::process::Command;

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    println!("cargo::rustc-check-cfg=cfg(psyco_native)");
    println!("cargo:rerun-if-changed=csrc/cpython311.c");
    println!("cargo:rerun-if-changed=csrc/attrcache.c");
    println!("cargo:rerun-if-changed=csrc/calls.c");
    println!("cargo:rerun-if-changed=csrc/exc311.c");
    println!("cargo:rerun-if-changed=csrc/gen311.c");
    println!("cargo:rerun-if-changed=csrc/osr311.c");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");

    let cfg = pyo3_build_config::get();
    let target_ok = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let version_ok = cfg.version.major == 3 && cfg.version.minor == 11;
    let cpython = cfg.implementation == pyo3_build_config::PythonImplementation::CPython;
    let exe = match &cfg.executable {
        Some(e) => e.clone(),
        None => return,
    };
    if !(target_ok && version_ok && cpython) {
        return;
    }
    // Ask the interpreter itself where its headers (including internal/) live and which
    // micro version they are: the offsets checked at import are those of this build.
    let out = Command::new(&exe)
        .args([
            "-c",
            "import sysconfig,sys;print(sysconfig.get_paths()['include']);print(sys.version_info[2])",
        ])
        .output()
        .expect("running the target interpreter");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let include = lines.next().unwrap_or("").trim().to_string();
    let micro = lines.next().unwrap_or("0").trim().to_string();
    if !std::path::Path::new(&include).join("internal/pycore_frame.h").exists() {
        println!("cargo:warning=psyco: internal CPython headers not found in {include}; building interpreter-only");
        return;
    }
    let mut build = cc::Build::new();
    // CPython's release builds define NDEBUG: without it the inline functions of its headers
    // keep their asserts (PyCallable_Check calls and type checks on every call). Debug builds
    // of psyco keep them as a check of our own use of those functions.
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        build.define("NDEBUG", None);
    }
    build
        .file("csrc/cpython311.c")
        .file("csrc/attrcache.c")
        .file("csrc/calls.c")
        .file("csrc/exc311.c")
        .file("csrc/gen311.c")
        .file("csrc/osr311.c")
        .include(&include)
        .define("Py_BUILD_CORE", "1")
        .define("PSYCO_BUILT_MICRO", micro.as_str())
        .warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .compile("psyco_cpython311");
    println!("cargo:rustc-cfg=psyco_native");
    println!("cargo:rustc-env=PSYCO_BUILT_FOR=3.11.{micro}");
}
