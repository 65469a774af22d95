//! Compiles the .slint files, with the Simplified Chinese translation bundled in.
fn main() {
    // The UI tests find elements by accessible label, which needs the compiler's debug info;
    // release builds go without it.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let debug = std::env::var("PROFILE").is_ok_and(|p| p == "debug");
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent".into())
        .with_debug_info(debug)
        // Read at run time: a build script compiled for one checkout may be reused by another
        // that shares the target directory, and `env!` would point it at the first.
        .with_bundled_translations(std::path::Path::new(&manifest_dir).join("lang"));
    slint_build::compile_with_config("ui/main.slint", config).expect("the .slint files compile");
}
