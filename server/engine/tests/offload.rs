//! GPU offload through llama.cpp's Vulkan backend, on whatever Vulkan device the machine has. CI
//! has no GPU: `scripts/test` builds `--features vulkan` (`scripts/vulkan-deps`) and runs these
//! tests on Mesa's software device (lavapipe, selected with `GGML_VK_VISIBLE_DEVICES=0`), which runs the
//! same shaders a GPU would. Lavapipe decodes about one token a second on 2 cores, so the prompts
//! are short and few tokens are generated.
//! `scripts/gpu-check` runs the same test on an NVIDIA GPU (`--features cuda`).
#![cfg(any(feature = "vulkan", feature = "cuda"))]

use std::ops::ControlFlow;

use wisp_engine::registry::{self, Registry};
use wisp_engine::{CancelFlag, Engine, GenerateRequest, LlamaEngine, LlamaOptions, Prompt, StopRule};

/// Short prompts where greedy decoding has one clear path.
const PROMPTS: [&str; 3] = [
    "fn add(a: i32, b: i32) -> i32 {\n    a",
    "def greet(name):\n    return \"Hello, \"",
    "for (let i = 0; i <",
];

/// Tokens generated per prompt.
const GENERATED: usize = 6;

/// One test on the device at a time. Wisp loads and runs models on its one worker thread; two
/// tests loading models side by side crashed ggml's Vulkan backend once in this suite's runs
/// (SIGSEGV before either finished), which Wisp itself never does.
static DEVICE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn load(gpu_layers: u32) -> LlamaEngine {
    load_with(LlamaOptions { gpu_layers, ..options() })
}

fn options() -> LlamaOptions {
    LlamaOptions { n_ctx: 256, threads: 2, ..LlamaOptions::default() }
}

fn load_with(options: LlamaOptions) -> LlamaEngine {
    let path = registry::locate(Registry::builtin().default_model())
        .unwrap_or_else(|error| panic!("the default model is needed for these tests: {error}"));
    LlamaEngine::load(&path, "smollm2", options).expect("loading the default model")
}

fn greedy(engine: &LlamaEngine, prompt: &str) -> String {
    let request = GenerateRequest {
        prompt: Prompt::text(prompt),
        max_tokens: GENERATED,
        stop: StopRule::Unbounded,
        cancel: CancelFlag::new(),
        cache_key: 0,
        time_budget: None,
        background: false,
        sampling: Default::default(),
        healing: String::new(),
        guide: None,
    };
    engine.generate(&request, &mut |_| ControlFlow::Continue(())).expect("generating").text
}

#[test]
fn every_layer_goes_to_the_vulkan_device_and_greedy_text_equals_the_cpu() {
    let _device = DEVICE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let gpu = load(99);
    let device = gpu.model().device.clone();
    let backend = if cfg!(feature = "cuda") { "CUDA" } else { "Vulkan" };
    // SmolLM2-135M: 30 repeating layers and the output layer.
    assert!(
        device.starts_with("gpu ") && device.contains(backend) && device.contains("31/31 layers"),
        "{device}"
    );
    assert_eq!(gpu.warning(), None);
    let gpu_texts: Vec<String> = PROMPTS.iter().map(|prompt| greedy(&gpu, prompt)).collect();
    drop(gpu);

    let cpu = load(0);
    assert!(cpu.model().device.starts_with("cpu, "), "{}", cpu.model().device);
    for (prompt, gpu_text) in PROMPTS.iter().zip(&gpu_texts) {
        assert!(!gpu_text.is_empty(), "nothing generated on the GPU for {prompt:?}");
        assert_eq!(&greedy(&cpu, prompt), gpu_text, "greedy text for {prompt:?}: CPU vs Vulkan");
    }
}

#[test]
fn layers_past_the_gpu_memory_stay_on_the_cpu_with_a_warning() {
    let _device = DEVICE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // About 3 MiB a layer (weights and a 256-token KV cache): 20 MiB holds a few of the 31.
    let engine = load_with(LlamaOptions { gpu_layers: 99, gpu_memory_mib: Some(20), ..options() });
    let device = engine.model().device.clone();
    let offloaded: u32 = device
        .split(", ")
        .find_map(|part| part.strip_suffix("/31 layers offloaded"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no layer count in {device:?}"));
    assert!((1..31).contains(&offloaded), "{device}");
    let warning = engine.warning().expect("a warning that says why");
    assert!(
        warning.contains("do not fit in the 20 MiB") && warning.contains("model.gpu_layers"),
        "{warning}"
    );
    // Split between the GPU and the CPU, it still writes what the CPU alone writes.
    let split = greedy(&engine, PROMPTS[0]);
    drop(engine);
    assert_eq!(split, greedy(&load(0), PROMPTS[0]));
}
