/* cli_whisper.h - the speech commands: mel (and, to come, transcribe). */
#ifndef UNUM_CLI_WHISPER_H
#define UNUM_CLI_WHISPER_H

/* unum mel -m WHISPER FILE.wav -o OUT.f32: float32 [n_mels x 3000], the
 * log-mel spectrogram of the first 30 s window. */
int cli_mel(int argc, char **argv);

#endif
