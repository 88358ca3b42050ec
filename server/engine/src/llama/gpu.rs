//! Offloading to GPUs: how many layers the devices' memory holds (from the GGUF header, before
//! loading), and where the model runs, for the status.

use std::path::Path;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::LlamaBackendDeviceType;

use super::{backend, check_gguf, LlamaOptions};
use crate::{EngineError, SplitMode};

/// Share of the GPUs' memory left for llama.cpp's compute buffers and other programs.
const GPU_MEMORY_HEADROOM: f64 = 0.1;

/// `options` with `gpu_layers` lowered to what the GPUs' memory (or `gpu_memory_mib`) holds, and
/// a warning when it was lowered. Each layer is counted as its share of the weights plus its KV
/// cache for the whole context (16-bit keys and values), an estimate from the GGUF header.
pub(super) fn fit_gpu_layers(
    path: &Path,
    id: &str,
    options: LlamaOptions,
) -> Result<(LlamaOptions, Option<String>), EngineError> {
    let gpus: Vec<llama_cpp_2::LlamaBackendDevice> = llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|device| {
            matches!(device.device_type, LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu)
        })
        .collect();
    if options.gpu_layers == 0 || gpus.is_empty() || !backend()?.supports_gpu_offload() {
        return Ok((options, None));
    }
    check_gguf(path, id)?;
    // From the header: llama.cpp would need the whole model loaded to say (a vocabulary-only
    // load leaves the layers' shapes unset, and asking for them aborts).
    let Ok(metadata) = crate::gguf::metadata(path) else {
        // The real load reports what is wrong with the file.
        return Ok((options, None));
    };
    let get =
        |key: &str| crate::gguf::int(&metadata, key).filter(|&value| value > 0).map(|value| value as u64);
    let (Some(n_layer), Some(n_embd), Some(n_head)) =
        (get("{arch}.block_count"), get("{arch}.embedding_length"), get("{arch}.attention.head_count"))
    else {
        return Ok((options, None));
    };
    let n_head_kv = get("{arch}.attention.head_count_kv").unwrap_or(n_head);
    let kv_width = n_embd / n_head * n_head_kv;
    let kv_per_layer = options.n_ctx as u64 * 2 * kv_width * 2;
    let weights = std::fs::metadata(path).map(|file| file.len()).unwrap_or(0);
    let per_layer = weights / (n_layer + 1) + kv_per_layer;
    let used: Vec<&llama_cpp_2::LlamaBackendDevice> = match options.split_mode {
        SplitMode::None => gpus.get(options.main_gpu as usize).into_iter().collect(),
        SplitMode::Layer | SplitMode::Row => gpus.iter().collect(),
    };
    let free: u64 = used.iter().map(|device| device.memory_free as u64).sum();
    let (budget, whose) = match options.gpu_memory_mib {
        Some(mib) => (mib << 20, format!("the {mib} MiB of \"model.gpu_memory_mib\"")),
        None => (
            (free as f64 * (1.0 - GPU_MEMORY_HEADROOM)) as u64,
            format!(
                "the {} MiB free on {}",
                free >> 20,
                used.iter().map(|device| device.description.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
    };
    let asked = u64::from(options.gpu_layers).min(n_layer + 1);
    let fit = (budget / per_layer.max(1)).min(asked);
    if fit == asked {
        return Ok((options, None));
    }
    let warning = format!(
        "{asked} layers of about {} MiB each (weights and KV cache) do not fit in {whose}: {fit} are on the GPU, the rest on the CPU — lower \"model.gpu_layers\" or \"model.n_ctx\", or free GPU memory",
        per_layer >> 20
    );
    tracing::warn!("{warning}");
    Ok((LlamaOptions { gpu_layers: fit as u32, ..options }, Some(warning)))
}

/// Where the model runs, for the status line and logs: the GPU(s) and how many layers they hold,
/// or the CPU and its threads.
pub(super) fn describe_device(
    backend: &LlamaBackend,
    options: &LlamaOptions,
    n_layer: u32,
    threads: i32,
) -> String {
    let gpus: Vec<String> = llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|device| {
            matches!(device.device_type, LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu)
        })
        .map(|device| {
            format!("{} ({}, {} MiB)", device.description, device.backend, device.memory_total >> 20)
        })
        .collect();
    if !backend.supports_gpu_offload() || gpus.is_empty() || options.gpu_layers == 0 {
        let available =
            if gpus.is_empty() { String::new() } else { format!("; GPUs present: {}", gpus.join(", ")) };
        return format!("cpu, {threads} threads{available}");
    }
    // llama.cpp offloads the repeating layers plus the output layer: n_layer + 1 in all.
    let offloaded = options.gpu_layers.min(n_layer + 1);
    let used = match options.split_mode {
        SplitMode::None => gpus.get(options.main_gpu as usize).cloned().unwrap_or_else(|| gpus.join(", ")),
        SplitMode::Layer | SplitMode::Row => gpus.join(", "),
    };
    format!("gpu {used}, {offloaded}/{} layers offloaded, {threads} cpu threads", n_layer + 1)
}
