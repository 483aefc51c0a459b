"""The language-model family: what TinyLLM (characters) and SmaLLM (words, BPE pieces) share.

    harness.py              a run from text to results: open_run (split, tokens, run folder, resume
                            checks), train_model, generate, load_run, sample_main
    loop.py                 the training loop (TBPTT with carried state), LMConfig, resume
    evaluation.py           carried-state and fixed-context evaluation, loss by position
    tokenizer_protocol.py   the Tokenizer protocol every tokenizer meets
    tokenizers.py           CharTokenizer, WordTokenizer, load_tokenizer
    bpe.py                  byte-level byte-pair encoding
    ngram.py                unigram, bigram and Kneser-Ney n-grams: the baselines to beat
    corpus.py               load_corpus, and corpora larger than memory tokenised once into a memmap
    plots.py                loss curves beside the baselines

Imports the plumbing in `common/` only, never `common.forecast` or a stage.
"""
