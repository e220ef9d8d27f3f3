/* cli_whisper.h - the speech commands: mel and transcribe. */
#ifndef UNUM_CLI_WHISPER_H
#define UNUM_CLI_WHISPER_H

/* unum mel -m WHISPER FILE.wav -o OUT.f32: float32 [n_mels x 3000], the
 * log-mel spectrogram of the first 30 s window. */
int cli_mel(int argc, char **argv);

/* unum transcribe -m WHISPER [--language xx] [--timestamps] [--json]
 * [--beam N] FILE.wav: the text of the whole recording, segment by segment
 * as it is decoded ("[mm:ss.xx -> mm:ss.xx] text" lines with --timestamps),
 * or at the end as JSON {"language", "segments": [{"start", "end", "text"}]}. */
int cli_transcribe(int argc, char **argv);

#endif
