/**
 * @module A file sent to lodged as a request's body, with its progress: XMLHttpRequest, since
 * fetch tells nothing of what it has sent. The session cookie goes along as with fetch, and
 * the answer is read as call() reads it.
 */
import { ApiError, answer } from './api.js';

/** POSTs `file` to `path`, calling `onProgress` as its bytes go; answers lodged's JSON, or throws its error. */
export function upload<T>(path: string, file: Blob, onProgress: (sent: number, total: number) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      try {
        resolve(answer<T>(xhr.status, path, xhr.responseText));
      } catch (e) {
        reject(e);
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'UNREACHABLE', 'cannot reach lodged: the upload was cut off'));
    xhr.send(file);
  });
}
