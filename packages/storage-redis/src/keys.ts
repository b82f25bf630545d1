import type { TaskStatus } from "@qtasks/core";

/**
 * Every key the storage uses, under `<prefix>:s:` (the broker and others use other segments of the
 * same prefix). The prefix carries the hash tag, so all keys share one Redis Cluster slot.
 */
export class StorageKeys {
  readonly seq: string;
  readonly all: string;
  readonly finished: string;
  private readonly base: string;

  constructor(readonly prefix: string) {
    this.base = `${prefix}:s:`;
    this.seq = `${this.base}seq`;
    this.all = `${this.base}idx:all`;
    this.finished = `${this.base}idx:finished`;
  }

  task(uuid: string): string {
    return `${this.base}task:${uuid}`;
  }
  outputs(uuid: string): string {
    return `${this.base}out:${uuid}`;
  }
  channel(uuid: string): string {
    return `${this.base}ch:${uuid}`;
  }
  status(status: TaskStatus): string {
    return `${this.base}idx:${status}`;
  }
}

export class GlobalConfigKeys {
  readonly workers: string;
  readonly infos: string;
  readonly settings: string;

  constructor(readonly prefix: string) {
    this.workers = `${prefix}:g:workers`;
    this.infos = `${prefix}:g:info`;
    this.settings = `${prefix}:g:settings`;
  }
}
