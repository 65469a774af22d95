//! Compiles the .slint files, with the Simplified Chinese translation bundled in.
fn main() {
    // The UI tests find elements by accessible label, which needs the compiler's debug info;
    // release builds go without it.
    let debug = std::env::var("PROFILE").is_ok_and(|p| p == "debug");
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent".into())
        .with_debug_info(debug)
        .with_bundled_translations(concat!(env!("CARGO_MANIFEST_DIR"), "/lang"));
    slint_build::compile_with_config("ui/main.slint", config).expect("the .slint files compile");
}
