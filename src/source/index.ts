/**
^ * Git sources: the per-app bare mirror, GitHub webhook payloads and signatures,
 * and the poller for repositories without a webhook.
 */
export { signGithubPayload, verifyGithubSignature } from './signature.js';
export { parsePushEvent, parsePingEvent, repoUrlMatches, normalizeRepoForMatch, type PushEvent, type PingEvent } from './github.js';
export { GitMirror, type GitMirrorOptions, type CommitInfo } from './mirror.js';
export { Poller, type PollerOptions, type PolledApp } from './poller.js';
