export function sampleText(file: string, region?: string): string;
export function markdownFiles(): string[];
export function processFile(file: string, check: boolean): string[];
export function listMarkers(): { file: string; line: number; sample: string; region?: string }[];
